/* Line plots as SVG through PLplot, written atomically (temp file, fsync, rename).
 *
 * PLplot keeps process-global state (a table of streams, the current stream). Each call makes
 * a fresh stream, restores the previous current stream when done, and holds a mutex meanwhile,
 * so concurrent bc_plot_lines calls are serialised; bc_plot_lines is still not safe against
 * other code in the process that drives PLplot at the same time. PLplot calls exit() on
 * internal errors it cannot recover from; every input is validated first so that it has none
 * to report (the output file already exists and is writable when PLplot opens it). */
#include "bc_internal.h"

#include <errno.h>
#include <math.h>
#include <plplot.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#define BC__PLOT_MAX_SERIES 8
#define BC__PLOT_W          800 /* page size in pixels */
#define BC__PLOT_H          500
#define BC__COL_BG          0 /* cmap0 slots: background, frame and text, grid, then series */
#define BC__COL_FG          1
#define BC__COL_GRID        2
#define BC__COL_SERIES      3

static pthread_mutex_t bc__plot_lock = PTHREAD_MUTEX_INITIALIZER;

/* Series colours: the "tab10" palette, readable on white and in greyscale print. */
static const unsigned char bc__plot_rgb[BC__PLOT_MAX_SERIES][3] = {
    {31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
    {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
};

/* PLplot reads '#' as the start of an escape sequence; "##" prints one '#'. */
static char *bc__plot_escape(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s), extra = 0;
    for (size_t i = 0; i < n; i++) extra += s[i] == '#';
    size_t bytes;
    if (!bc__add_size(n, extra, &bytes) || !bc__add_size(bytes, 1, &bytes)) return NULL;
    char *out = malloc(bytes);
    if (!out) return NULL;
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        *o++ = s[i];
        if (s[i] == '#') *o++ = '#';
    }
    *o = '\0';
    return out;
}

/* [lo, hi] padded by 5%; a single value gets a window around it that PLplot can label. */
static void bc__plot_range(double lo, double hi, double *a, double *b) {
    double span = hi - lo;
    if (span > 0.0 && span > 1e-9 * fmax(fabs(lo), fabs(hi))) {
        *a = lo - 0.05 * span;
        *b = hi + 0.05 * span;
        return;
    }
    double mid = 0.5 * (lo + hi);
    double half = fabs(mid) > 1e-300 ? 0.05 * fabs(mid) : 1.0;
    *a = mid - half;
    *b = mid + half;
}

/* Picks the plot corner whose legend box would cover the fewest data points:
 * 0 top-right, 1 bottom-right, 2 top-left, 3 bottom-left. */
static int bc__plot_legend_corner(const bc_series *s, int32_t ns, double x0, double x1, double y0,
                                  double y1) {
    int64_t hits[4] = {0, 0, 0, 0};
    double bw = 0.35, bh = fmin(0.9, 0.08 + 0.07 * ns); /* legend box, fraction of the axes */
    for (int32_t i = 0; i < ns; i++) {
        for (int32_t j = 0; j < s[i].n; j++) {
            if (!isfinite(s[i].x[j]) || !isfinite(s[i].y[j])) continue;
            double u = (s[i].x[j] - x0) / (x1 - x0), v = (s[i].y[j] - y0) / (y1 - y0);
            bool right = u > 1.0 - bw, left = u<bw, top = v> 1.0 - bh, bottom = v < bh;
            hits[0] += right && top;
            hits[1] += right && bottom;
            hits[2] += left && top;
            hits[3] += left && bottom;
        }
    }
    int best = 0;
    for (int c = 1; c < 4; c++)
        if (hits[c] < hits[best]) best = c;
    return best;
}

/* Draws series i as runs of finite points; a run of one point becomes a marker. */
static void bc__plot_series(const bc_series *s, PLFLT *x, PLFLT *y) {
    int32_t j = 0;
    while (j < s->n) {
        int32_t k = 0;
        while (j < s->n && isfinite(s->x[j]) && isfinite(s->y[j])) {
            x[k] = s->x[j];
            y[k] = s->y[j];
            k++;
            j++;
        }
        if (k == 1)
            plpoin(1, x, y, 17);
        else if (k > 1)
            plline(k, x, y);
        if (k == 0) j++;
    }
}

bc_status bc_plot_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
                        const bc_series *s, int32_t ns) {
    bc_status st = BC_OK;
    char *etitle = NULL, *exlabel = NULL, *eylabel = NULL;
    char *elabels[BC__PLOT_MAX_SERIES] = {NULL};
    PLFLT *bx = NULL, *by = NULL;
    FILE *f = NULL;
    char *tmp = NULL;
    bool locked = false;

    if (!path || !*path) return bc__fail(BC_ERR_PARAM, "bc_plot_lines: empty path");
    if (!s || ns < 1 || ns > BC__PLOT_MAX_SERIES)
        return bc__fail(BC_ERR_PARAM, "%s: %d series (need 1..%d)", path, s ? ns : 0,
                        BC__PLOT_MAX_SERIES);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    int32_t nmax = 0;
    for (int32_t i = 0; i < ns; i++) {
        if (!s[i].x || !s[i].y || s[i].n < 1)
            return bc__fail(BC_ERR_PARAM, "%s: series %d has no data", path, i);
        if (s[i].n > nmax) nmax = s[i].n;
        for (int32_t j = 0; j < s[i].n; j++) {
            double x = s[i].x[j], y = s[i].y[j];
            if (!isfinite(x) || !isfinite(y)) continue; /* gaps, e.g. a diverged loss */
            xlo = fmin(xlo, x);
            xhi = fmax(xhi, x);
            ylo = fmin(ylo, y);
            yhi = fmax(yhi, y);
        }
    }
    if (!(xlo <= xhi) || !(ylo <= yhi))
        return bc__fail(BC_ERR_PARAM, "%s: no finite points to plot", path);
    if (!isfinite(xhi - xlo) || !isfinite(yhi - ylo))
        return bc__fail(BC_ERR_PARAM, "%s: values too large to plot", path);
    double x0, x1, y0, y1;
    bc__plot_range(xlo, xhi, &x0, &x1);
    bc__plot_range(ylo, yhi, &y0, &y1);

    etitle = bc__plot_escape(title);
    exlabel = bc__plot_escape(xlabel);
    eylabel = bc__plot_escape(ylabel);
    bool ok = etitle && exlabel && eylabel;
    for (int32_t i = 0; ok && i < ns; i++) ok = (elabels[i] = bc__plot_escape(s[i].label)) != NULL;
    /* bx, by: (nmax) the current run of finite points, as PLplot's coordinate type */
    size_t bytes;
    if (ok && bc__mul_size((size_t)nmax, sizeof(PLFLT), &bytes)) {
        bx = malloc(bytes);
        by = malloc(bytes);
    }
    if (!ok || !bx || !by) {
        st = bc__fail(BC_ERR_NOMEM, "%s: cannot allocate plot buffers", path);
        goto out;
    }

    /* PLplot opens the temp file by name; we only keep it to sync and rename. */
    if ((st = bc__atomic_open(path, &f, &tmp)) != BC_OK) goto out;
    fclose(f);
    f = NULL;

    pthread_mutex_lock(&bc__plot_lock);
    locked = true;
    PLINT prev = 0, strm = -1;
    plgstrm(&prev);
    plmkstrm(&strm);
    if (strm < 0) {
        st = bc__fail(BC_ERR_UNSUPPORTED, "%s: no free PLplot stream", path);
        goto out;
    }
    plsdev("svg");
    plsfnam(tmp);
    plspage(0.0, 0.0, BC__PLOT_W, BC__PLOT_H, 0, 0);
    plscolbg(255, 255, 255);
    plinit();
    plscol0(BC__COL_FG, 0, 0, 0);
    plscol0(BC__COL_GRID, 220, 220, 220);
    for (int32_t i = 0; i < ns; i++)
        plscol0(BC__COL_SERIES + i, bc__plot_rgb[i][0], bc__plot_rgb[i][1], bc__plot_rgb[i][2]);

    pladv(0);
    plvsta();
    plwind(x0, x1, y0, y1);
    plcol0(BC__COL_GRID);
    plwidth(0.5);
    plbox("g", 0.0, 0, "g", 0.0, 0);
    plcol0(BC__COL_FG);
    plwidth(1.0);
    plbox("bcnst", 0.0, 0, "bcnstv", 0.0, 0);
    pllab(exlabel, eylabel, etitle);

    plwidth(2.0);
    for (int32_t i = 0; i < ns; i++) {
        plcol0(BC__COL_SERIES + i);
        bc__plot_series(&s[i], bx, by);
    }
    plwidth(1.0);

    PLINT opt_array[BC__PLOT_MAX_SERIES], text_colors[BC__PLOT_MAX_SERIES];
    PLINT line_colors[BC__PLOT_MAX_SERIES], line_styles[BC__PLOT_MAX_SERIES];
    PLFLT line_widths[BC__PLOT_MAX_SERIES];
    for (int32_t i = 0; i < ns; i++) {
        opt_array[i] = PL_LEGEND_LINE;
        text_colors[i] = BC__COL_FG;
        line_colors[i] = BC__COL_SERIES + i;
        line_styles[i] = 1;
        line_widths[i] = 2.0;
    }
    static const PLINT corner_pos[4] = {
        PL_POSITION_RIGHT | PL_POSITION_TOP, PL_POSITION_RIGHT | PL_POSITION_BOTTOM,
        PL_POSITION_LEFT | PL_POSITION_TOP, PL_POSITION_LEFT | PL_POSITION_BOTTOM};
    int corner = bc__plot_legend_corner(s, ns, x0, x1, y0, y1);
    PLFLT lw = 0.0, lh = 0.0;
    pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             corner_pos[corner] | PL_POSITION_INSIDE | PL_POSITION_VIEWPORT, 0.02, 0.02, 0.08,
             BC__COL_BG, BC__COL_FG, 1, 0, 0, ns, opt_array, 1.0, 0.8, 2.0, 0.0, text_colors,
             (const char *const *)elabels, NULL, NULL, NULL, NULL, line_colors, line_styles,
             line_widths, NULL, NULL, NULL, NULL);
    plend1();
    plsstrm(prev);

    /* Reopen to fsync what PLplot wrote; an empty file means the driver failed. */
    struct stat sb;
    if (!(f = fopen(tmp, "ab"))) {
        st = bc__fail(BC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fileno(f), &sb) != 0 || sb.st_size <= 0) {
        st = bc__fail(BC_ERR_IO, "%s: cannot write: PLplot produced no output", path);
        goto out;
    }
out:
    if (locked) pthread_mutex_unlock(&bc__plot_lock);
    if (tmp) {
        bc_status st2 = bc__atomic_commit(f, tmp, path, st == BC_OK);
        if (st == BC_OK) st = st2;
    } else if (f) {
        fclose(f);
    }
    for (int32_t i = 0; i < BC__PLOT_MAX_SERIES; i++) free(elabels[i]);
    free(etitle);
    free(exlabel);
    free(eylabel);
    free(bx);
    free(by);
    return st;
}
