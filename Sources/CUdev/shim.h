// libudev for serial-device identity and hotplug, behind a few flat calls.
// Imported by PanicPlatform alone.
#ifndef CUDEV_SHIM_H
#define CUDEV_SHIM_H

#include <libudev.h>
#include <string.h>
#include <errno.h>

/// One tty as libudev describes it; empty strings where an attribute is absent
/// (a removed device's parents are gone; a pty has no USB parent).
typedef struct {
    char action[16];
    char devnode[128];
    char syspath[256];
    char vendor[8];
    char product[8];
    char serial[128];
    char interface[8];
    char port_path[64];
    char manufacturer[128];
    char product_name[128];
    char driver[32];
    char subsystem[16];
    char sysname[64];
} cpanic_tty_info;

static inline void cpanic_udev_copy(char *dst, size_t len, const char *src) {
    if (!src) src = "";
    strncpy(dst, src, len - 1);
    dst[len - 1] = 0;
}

static inline void cpanic_udev_fill(struct udev_device *d, cpanic_tty_info *o) {
    memset(o, 0, sizeof(*o));
    cpanic_udev_copy(o->action, sizeof o->action, udev_device_get_action(d));
    cpanic_udev_copy(o->devnode, sizeof o->devnode, udev_device_get_devnode(d));
    cpanic_udev_copy(o->syspath, sizeof o->syspath, udev_device_get_syspath(d));
    cpanic_udev_copy(o->subsystem, sizeof o->subsystem, udev_device_get_subsystem(d));
    cpanic_udev_copy(o->sysname, sizeof o->sysname, udev_device_get_sysname(d));
    struct udev_device *usb = udev_device_get_parent_with_subsystem_devtype(d, "usb", "usb_device");
    if (usb) {
        cpanic_udev_copy(o->vendor, sizeof o->vendor, udev_device_get_sysattr_value(usb, "idVendor"));
        cpanic_udev_copy(o->product, sizeof o->product, udev_device_get_sysattr_value(usb, "idProduct"));
        cpanic_udev_copy(o->serial, sizeof o->serial, udev_device_get_sysattr_value(usb, "serial"));
        cpanic_udev_copy(o->port_path, sizeof o->port_path, udev_device_get_sysattr_value(usb, "devpath"));
        cpanic_udev_copy(o->manufacturer, sizeof o->manufacturer, udev_device_get_sysattr_value(usb, "manufacturer"));
        cpanic_udev_copy(o->product_name, sizeof o->product_name, udev_device_get_sysattr_value(usb, "product"));
    }
    struct udev_device *intf = udev_device_get_parent_with_subsystem_devtype(d, "usb", "usb_interface");
    if (intf) {
        cpanic_udev_copy(o->interface, sizeof o->interface, udev_device_get_sysattr_value(intf, "bInterfaceNumber"));
        cpanic_udev_copy(o->driver, sizeof o->driver, udev_device_get_driver(intf));
    }
}

static inline struct udev *cpanic_udev_new(void) { return udev_new(); }

/// A monitor of tty and gpio events from `source` ("udev" after rules ran, or
/// "kernel" for raw uevents where no udevd runs), receiving already.
static inline struct udev_monitor *cpanic_udev_monitor(struct udev *u, const char *source) {
    struct udev_monitor *m = udev_monitor_new_from_netlink(u, source);
    if (!m) return NULL;
    udev_monitor_filter_add_match_subsystem_devtype(m, "tty", NULL);
    udev_monitor_filter_add_match_subsystem_devtype(m, "gpio", NULL);
    if (udev_monitor_enable_receiving(m) < 0) { int e = errno; udev_monitor_unref(m); errno = e; return NULL; }
    return m;
}

static inline int cpanic_udev_monitor_fd(struct udev_monitor *m) { return udev_monitor_get_fd(m); }

/// 1 and `out` filled when an event was pending, 0 when none.
static inline int cpanic_udev_monitor_receive(struct udev_monitor *m, cpanic_tty_info *out) {
    struct udev_device *d = udev_monitor_receive_device(m);
    if (!d) return 0;
    cpanic_udev_fill(d, out);
    udev_device_unref(d);
    return 1;
}

static inline void cpanic_udev_monitor_free(struct udev_monitor *m) { if (m) udev_monitor_unref(m); }

/// Every tty present; returns how many were written to `out` (at most `max`).
static inline int cpanic_udev_enumerate_tty(struct udev *u, cpanic_tty_info *out, int max) {
    struct udev_enumerate *e = udev_enumerate_new(u);
    if (!e) return -1;
    udev_enumerate_add_match_subsystem(e, "tty");
    udev_enumerate_scan_devices(e);
    int n = 0;
    struct udev_list_entry *entry;
    udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
        if (n >= max) break;
        struct udev_device *d = udev_device_new_from_syspath(u, udev_list_entry_get_name(entry));
        if (!d) continue;
        cpanic_udev_fill(d, &out[n]);
        udev_device_unref(d);
        if (out[n].vendor[0]) n++;   /* USB serial only */
    }
    udev_enumerate_unref(e);
    return n;
}
#endif
