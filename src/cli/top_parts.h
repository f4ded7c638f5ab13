/*
 * top_parts.h — the parts of a `ttmem top` frame, one file each (internal to src/cli/top_*.c):
 *
 *   top_header.c   the title bar, the sources line, the key-hint footer, "nothing to monitor"
 *   top_devices.c  the devices section: bars, one line per device, the grid
 *   top_procs.c    the process table
 *   top_diag.c     the diagnosis counters, the transport counters, the per-device counters
 *   top_history.c  the history graphs
 *   top_sites.c    the live allocation sites (bytes by allocation stack)
 *   top_help.c     the help screen (its key lines come from the key table, top_keys.c)
 *   top_budget.c   the row budget: which parts a view shows, in how many rows, what scrolls
 *
 * top_layout.c sets the frame up and calls the header, then the help, the nothing-to-monitor
 * body or the view's body (top_budget.c), then the footer. A part writes lines with the
 * primitives of top_draw.h until L->limit; a part that takes `rows` draws at most that many
 * lines (-1: all), one that takes `first` starts its list there (the scroll).
 */
#ifndef TTM_CLI_TOP_PARTS_H
#define TTM_CLI_TOP_PARTS_H

#include "cli/top_draw.h"

/* ---- top_header.c ---- */

/* The title bar (host, daemon, refresh, PAUSED and STALE flags) and the sources line. */
void ttm__top_header(ttm_top_lay *L);
/* The key hints on the last line, with the state they would change. */
void ttm__top_footer(ttm_top_lay *L);
/* What to do when there is nothing to monitor (no daemon, no TT-Metal region). */
void ttm__top_nothing(ttm_top_lay *L);

/* ---- top_devices.c ---- */

/* "3" for a daemon device, "s3" for a TT-Metal region's (TTM_FMT_LEN bytes). */
void ttm__top_dev_label(const ttm_top_device *d, char buf[TTM_FMT_LEN]);
/* True when the device's capacity of space sp (ttm_space) is known and not 0. */
bool ttm__top_cap_valid(const ttm_top_device *d, unsigned sp);
/* Lines ndev devices take in mode (FULL: 3 each, LINE: 1 each, GRID: a line of cells). */
int ttm__top_dev_rows(const ttm_top_lay *L, ttm_top_devmode mode, size_t ndev);
/* The section's title line: count, scroll position (entries first..last of `entries`), the
 * filter, the legend of the mode. */
void ttm__top_devices_title(ttm_top_lay *L, size_t shown, ttm_top_devmode mode, int first, int last,
                            int entries);
/* The shown devices (L->dev) in mode, at most rows lines (-1: all), from entry `first` (a
 * device, or a grid line). Returns the number of entries the list has. */
int ttm__top_devices_list(ttm_top_lay *L, ttm_top_devmode mode, int rows, int first);

/* ---- top_procs.c ---- */

/* The process table: title, header and rows in at most `lines` lines (-1: all rows), from
 * row `first`; hint_more ends a cut table with "... N more" instead of a scroll note; row sel
 * is marked as the selection (SIZE_MAX: none; never in a plain frame). The title says how many
 * exited processes are hidden (L->f->hidden). Returns how many rows did not fit. */
size_t ttm__top_proc_table(ttm_top_lay *L, const ttm_top_row *rows, size_t nrows, int lines,
                           int first, bool hint_more, size_t sel);

/* ---- top_proc.c ---- */

/* The process view of (st->proc_src, st->proc_pid): who it is (pid, name, state, command
 * line), its counters, its bytes by device and memtype, then its live allocation sites from
 * the snapshot's PROCSITES section, scrolled from site st->scroll (clamped: f->scroll). */
void ttm__top_proc_view(ttm_top_lay *L);

/* ---- top_diag.c ---- */

/* The one-line "DIAG unknown 3  double 0 ..." summary. */
void ttm__top_diag_summary(ttm_top_lay *L);
/* The diagnosis table: each counter with count, +new, bytes and what it means; then the other
 * findings that happened. */
void ttm__top_diag_table(ttm_top_lay *L);
/* The daemon's transport counters (nothing without a daemon snapshot). */
void ttm__top_transport(ttm_top_lay *L);
/* How many of the shown devices are the daemon's (they come first in L->dev). */
size_t ttm__top_diag_ndev(const ttm_top_lay *L);
/* The per-device counters, at most rows lines (-1: all), from device `first`. Returns the
 * number of entries (daemon devices shown). */
int ttm__top_diag_devices(ttm_top_lay *L, int rows, int first);

/* ---- top_history.c ---- */

/* The history graphs of the shown devices in at most rows lines (-1: all), from device
 * `first`; two lines a device (DRAM, L1) when they fit, else both graphs on one. Returns the
 * number of devices. */
int ttm__top_history(ttm_top_lay *L, int rows, int first);

/* ---- top_sites.c ---- */

/* The live allocation sites of the daemon's snapshot, largest first: a line of bytes, buffers
 * and the innermost frame, then up to TTM_TOP_SITE_FRAMES - 1 callers, in at most rows lines
 * (-1: all), from site `first`. Returns the number of sites. */
int ttm__top_sites(ttm_top_lay *L, int rows, int first);
/* The frames of allocation stack `stack` from column col: the innermost on `line`, then a line
 * "<- caller" for each further frame symbolized (cli/top_model.h), or one dim line saying why
 * there are none. */
void ttm__top_site_frames(ttm_top_lay *L, int line, int col, uint32_t stack);

/* ---- top_help.c ---- */

/* The help screen: the key lines rendered from the key table, then how to read the screen. */
void ttm__top_help(ttm_top_lay *L);

/* ---- top_budget.c ---- */

/* The body of the state's view in the lines left (L->limit): shares them among its parts,
 * picks the device display (AUTO: the richest that fits) and clamps the scroll of the one
 * list that overflows (f->scroll, f->scroll_max). rows are the sorted process rows. */
void ttm__top_view_body(ttm_top_lay *L, ttm_top_row *rows, size_t nrows);

#endif /* TTM_CLI_TOP_PARTS_H */
