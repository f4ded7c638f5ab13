/*
 * cmdline.h — a process's command line as ttmem shows it: the arguments /proc/PID/cmdline
 * separates by NUL bytes, joined by spaces and cleaned for a one-line table. The daemon makes
 * it for its reports (src/daemon/report_fill.c), a replay for the processes of a journal that
 * kept only their PROC records (src/core/replay.c): one rule, so both show the same text.
 */
#ifndef TTM_COMMON_CMDLINE_H
#define TTM_COMMON_CMDLINE_H

#include <stddef.h>

/* The text of a command line given as its arguments separated by NUL bytes (len bytes): the
 * arguments joined by spaces, control characters replaced by '?' (as a process name is cleaned),
 * trailing NULs dropped. *out is a new string (ttm__free) or NULL when nothing is left. Returns 0
 * or TTM_ENOMEM (*out NULL). */
int ttm__cmdline_text(const char *args, size_t len, char **out);

#endif /* TTM_COMMON_CMDLINE_H */
