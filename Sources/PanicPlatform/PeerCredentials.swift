import CPanicSys

/// Who is on the other end of a connected Unix socket (SO_PEERCRED).
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public static func of(socket fd: Int32) throws(SystemError) -> PeerCredentials {
        var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
        try syscall("getsockopt(SO_PEERCRED)") { cpanic_peer_credentials(fd, &pid, &uid, &gid) }
        return .init(pid: pid, uid: uid, gid: gid)
    }
}
