#include "CPanicSys.h"
