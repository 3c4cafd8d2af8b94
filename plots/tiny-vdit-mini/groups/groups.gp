# Figure of groups.tsv; written by ripple (85ff7ff). Render: gnuplot groups.gp
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
stats "groups.tsv" using (strcol("floor_mse") eq "nan" ? 0 : column("floor_mse")) nooutput
floor = STATS_mean
floor_text = floor > 0 ? sprintf("%.1e", floor) : "not computed"
set title sprintf("Forced reuse of one channel group along one axis (paper Fig. 5)\ntheta = infinity, window 2; mean over captured steps and layers; noise floor MSE %s", floor_text)
set xlabel "reuse axis" offset 0,0.6
set ylabel "output MSE vs exact attention (log)"
set logscale y
set format y "%.0e"
set mytics 10
set xrange [-0.6:2.6]
set xtics ("t (frames)" 0, "h (rows)" 1, "w (columns)" 2)
set style fill solid 0.85 border -1
set boxwidth 0.26
set key below center horizontal box title "reused channel group"
set bmargin 6.5
# groups_summary.tsv: one row per reused channel group, one column per reuse axis
S = "groups_summary.tsv"
plot for [a=1:3] S every ::0::0 using (a - 1 -0.27):(column(word("t h w", a))) with boxes lc rgb "#1f77b4" title (a == 1 ? "t-channels" : ""), \
     for [a=1:3] S every ::1::1 using (a - 1 +0.00):(column(word("t h w", a))) with boxes lc rgb "#ff7f0e" title (a == 1 ? "h-channels" : ""), \
     for [a=1:3] S every ::2::2 using (a - 1 +0.27):(column(word("t h w", a))) with boxes lc rgb "#2ca02c" title (a == 1 ? "w-channels" : "")

