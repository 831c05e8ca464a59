/* export.h: the library exports exactly the interposed functions. Everything
 * else is compiled with -fvisibility=hidden. */
#ifndef TC_EXPORT_H
#define TC_EXPORT_H
#define TC_EXPORT __attribute__((visibility("default")))
#endif
