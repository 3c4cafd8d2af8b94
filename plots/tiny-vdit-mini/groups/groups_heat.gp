# Figure of groups_heat.tsv; written by ripple (c0ae441). Render: gnuplot groups_heat.gp
# (set fmt to "svg" or "pdf" with: gnuplot -e 'fmt="svg"' groups_heat.gp)
if (!exists("fmt")) fmt = "png"
if (!exists("out")) out = "groups_heat.".fmt
if (fmt eq "png") set terminal pngcairo size 800,851 font "DejaVu Sans,11" noenhanced
if (fmt eq "svg") set terminal svg size 800,851 font "DejaVu Sans,11" noenhanced
if (fmt eq "pdf") set terminal pdfcairo size 8.33in,8.86in font "DejaVu Sans,9" noenhanced
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
log_cb = hi > 100 * lo
if (log_cb) { set logscale cb; set format cb "%.0e" } else { set format cb "%.1e" }
# on a log bar, labels at 2 and 5 times each decade too (a bar often spans only two decades)
if (log_cb) { do for [e = floor(log10(lo)) : ceil(log10(hi))] { set cbtics add (sprintf("%.0e", 2 * 10.0**e) 2 * 10.0**e, sprintf("%.0e", 5 * 10.0**e) 5 * 10.0**e) } }
set cbrange [lo:hi]
set palette defined (0 "#440154", 0.25 "#3b528b", 0.5 "#21918c", 0.75 "#5ec962", 1 "#fde725")
# one colour bar for every panel, at the right, placed by hand (no panel shrinks for it):
# drawn with the last panel (@colorbox), none with the others
colorbox = "set colorbox user origin screen 0.8850, screen 0.0729 size screen 0.0200, screen 0.8038"
set cbtics font ",10"
set cblabel sprintf("output error per token, (O'-O)^2%s", log_cb ? " (log scale)" : "") offset 0.5,0 font ",11"
unset key
unset grid
set size ratio 1
set xrange [-0.5:15.5]
set yrange [15.5:-0.5]
set xtics out nomirror 4 font ",10"
set ytics out nomirror 4 font ",10"
set multiplot layout 3,3 margins screen 0.0938, 0.8625, 0.0729, 0.8766 spacing screen 0.0500, 0.0881 title "Per-token output error (O'-O)^2, mean over heads and channels: frame 4 of step 10, layer 1\nforced reuse (theta = inf) of one channel group (row) along one axis (column); one colour scale" font ",12"

unset colorbox
set ylabel "h token index (row)" offset 1,0 font ",10"
unset xlabel
set title "t-channels along t" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::0::255 using (column("w")):(column("h")):(column("err")) with image

unset colorbox
unset ylabel
unset xlabel
set title "t-channels along h" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::256::511 using (column("w")):(column("h")):(column("err")) with image

unset colorbox
unset ylabel
unset xlabel
set title "t-channels along w" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::512::767 using (column("w")):(column("h")):(column("err")) with image

unset colorbox
set ylabel "h token index (row)" offset 1,0 font ",10"
unset xlabel
set title "h-channels along t" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::768::1023 using (column("w")):(column("h")):(column("err")) with image

unset colorbox
unset ylabel
unset xlabel
set title "h-channels along h" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::1024::1279 using (column("w")):(column("h")):(column("err")) with image

unset colorbox
unset ylabel
unset xlabel
set title "h-channels along w" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::1280::1535 using (column("w")):(column("h")):(column("err")) with image

unset colorbox
set ylabel "h token index (row)" offset 1,0 font ",10"
set xlabel "w token index (column)" offset 0,0.3 font ",10"
set title "w-channels along t" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::1536::1791 using (column("w")):(column("h")):(column("err")) with image

unset colorbox
unset ylabel
set xlabel "w token index (column)" offset 0,0.3 font ",10"
set title "w-channels along h" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::1792::2047 using (column("w")):(column("h")):(column("err")) with image

@colorbox
unset ylabel
set xlabel "w token index (column)" offset 0,0.3 font ",10"
set title "w-channels along w" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::2048::2303 using (column("w")):(column("h")):(column("err")) with image
unset multiplot

