# Figure of groups.tsv; written by ripple (c0ae441). Render: gnuplot groups.gp
# (set fmt to "svg" or "pdf" with: gnuplot -e 'fmt="svg"' groups.gp)
if (!exists("fmt")) fmt = "png"
if (!exists("out")) out = "groups.".fmt
if (fmt eq "png") set terminal pngcairo size 800,500 font "DejaVu Sans,11" noenhanced
if (fmt eq "svg") set terminal svg size 800,500 font "DejaVu Sans,11" noenhanced
if (fmt eq "pdf") set terminal pdfcairo size 8.33in,5.21in font "DejaVu Sans,9" noenhanced
set output out
set datafile separator "\t"
set datafile commentschars "#"
set key outside right top box
set grid lc rgb "#dddddd"
set border lw 1.2

set datafile columnheaders
set datafile missing "nan"  # nan cells: skipped, lines go on
set table $M0
plot "groups.tsv" using (strcol("group") eq "t" ? column("axis_idx") : 1e30):(strcol("group") eq "t" ? column("mse") : 1) smooth unique
set table $M1
plot "groups.tsv" using (strcol("group") eq "h" ? column("axis_idx") : 1e30):(strcol("group") eq "h" ? column("mse") : 1) smooth unique
set table $M2
plot "groups.tsv" using (strcol("group") eq "w" ? column("axis_idx") : 1e30):(strcol("group") eq "w" ? column("mse") : 1) smooth unique
unset table
# the means' tables: x, mean, no header, spaces between
set datafile nocolumnheaders
set datafile separator whitespace
set xrange [-0.6:2.6]
set bmargin 7

set title "Forced reuse of one channel group along one axis (paper Fig. 5)\ntheta = infinity, window 2; mean over captured steps and layers\nfp32 noise floor: 5.6e-13, far below the data: not drawn"
unset label 1
set xlabel "reuse axis"
set xtics ("t (frames)" 0, "h (rows)" 1, "w (columns)" 2)
set style fill solid 0.85 border -1
set boxwidth 0.26
unset logscale y
set autoscale y
set format y "%g"
set ylabel "output MSE vs exact attention (log)"
set logscale y
set format y "%.0e"
set yrange [3.36097e-05:0.0812736]
set key below center horizontal box title "reused channel group"
plot $M0 using ($1 < 1e29 ? $1 -0.27 : NaN):($2 > 0 ? $2 : NaN) axes x1y1 with boxes lc rgb "#1f77b4" title "t-channels", \
     $M1 using ($1 < 1e29 ? $1 : NaN):($2 > 0 ? $2 : NaN) axes x1y1 with boxes lc rgb "#ff7f0e" title "h-channels", \
     $M2 using ($1 < 1e29 ? $1 +0.27 : NaN):($2 > 0 ? $2 : NaN) axes x1y1 with boxes lc rgb "#2ca02c" title "w-channels"

