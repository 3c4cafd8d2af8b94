# Figure of groups_heat.tsv; written by ripple (6dc023e). Render: gnuplot groups_heat.gp
# (set fmt to "svg" or "pdf" with: gnuplot -e 'fmt="svg"' groups_heat.gp)
if (!exists("fmt")) fmt = "png"
if (!exists("out")) out = "groups_heat.".fmt
if (fmt eq "png") set terminal pngcairo size 800,760 font "DejaVu Sans,11" noenhanced
if (fmt eq "svg") set terminal svg size 800,760 font "DejaVu Sans,11" noenhanced
if (fmt eq "pdf") set terminal pdfcairo size 8.33in,7.92in font "DejaVu Sans,9" noenhanced
set output out
set datafile separator "\t"
set datafile commentschars "#"
set key outside right top box
set grid lc rgb "#dddddd"
set border lw 1.2

set datafile columnheaders
stats "groups_heat.tsv" using (column("err")) nooutput
hi = STATS_max
stats "groups_heat.tsv" using (column("err") > 0 ? column("err") : 1/0) nooutput
lo = STATS_min
if (hi > 100 * lo) { set logscale cb; set format cb "%.0e" } else { set format cb "%.1e" }
set cbrange [lo:hi]
set palette defined (0 "#440154", 0.25 "#3b528b", 0.5 "#21918c", 0.75 "#5ec962", 1 "#fde725")
unset key
set size ratio 1
set xrange [-0.5:15.5]
set yrange [15.5:-0.5]
set xtics out nomirror 4 font ",8"
set ytics out nomirror 4 font ",8"
set cbtics font ",8"
set xlabel "w (column)" offset 0,0.5 font ",9"
set ylabel "h (row)" offset 1,0 font ",9"
set multiplot layout 3,3 title "Per-token output error (O'-O)^2, mean over heads and channels: frame 4 of step 0, layer 1\nforced reuse (theta = inf) of one channel group (row) along one axis (column); shared colour scale"
unset colorbox
set title "t-channels along t" font ",10"
plot "groups_heat.tsv" every ::0::255 using (column("w")):(column("h")):(column("err")) with image
unset colorbox
set title "t-channels along h" font ",10"
plot "groups_heat.tsv" every ::256::511 using (column("w")):(column("h")):(column("err")) with image
set colorbox
set title "t-channels along w" font ",10"
plot "groups_heat.tsv" every ::512::767 using (column("w")):(column("h")):(column("err")) with image
unset colorbox
set title "h-channels along t" font ",10"
plot "groups_heat.tsv" every ::768::1023 using (column("w")):(column("h")):(column("err")) with image
unset colorbox
set title "h-channels along h" font ",10"
plot "groups_heat.tsv" every ::1024::1279 using (column("w")):(column("h")):(column("err")) with image
set colorbox
set title "h-channels along w" font ",10"
plot "groups_heat.tsv" every ::1280::1535 using (column("w")):(column("h")):(column("err")) with image
unset colorbox
set title "w-channels along t" font ",10"
plot "groups_heat.tsv" every ::1536::1791 using (column("w")):(column("h")):(column("err")) with image
unset colorbox
set title "w-channels along h" font ",10"
plot "groups_heat.tsv" every ::1792::2047 using (column("w")):(column("h")):(column("err")) with image
set colorbox
set title "w-channels along w" font ",10"
plot "groups_heat.tsv" every ::2048::2303 using (column("w")):(column("h")):(column("err")) with image
unset multiplot

