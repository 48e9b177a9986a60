#ifndef GREETING_H
#define GREETING_H
#ifdef __cplusplus
extern "C" {
#endif
/* The greeting of this example, from C. */
const char *greeting(void);
#ifdef __cplusplus
}
#endif
#endif
