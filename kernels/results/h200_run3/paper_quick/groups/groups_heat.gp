# Figure of groups_heat.tsv; written by ripple (56d2fd6). Render: gnuplot groups_heat.gp
# (set fmt to "svg" or "pdf" with: gnuplot -e 'fmt="svg"' groups_heat.gp)
if (!exists("fmt")) fmt = "png"
if (!exists("out")) out = "groups_heat.".fmt
if (fmt eq "png") set terminal pngcairo size 800,584 font "DejaVu Sans,11" noenhanced
if (fmt eq "svg") set terminal svg size 800,584 font "DejaVu Sans,11" noenhanced
if (fmt eq "pdf") set terminal pdfcairo size 8.33in,6.08in font "DejaVu Sans,9" noenhanced
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
colorbox = "set colorbox user origin screen 0.8850, screen 0.1062 size screen 0.0200, screen 0.7140"
set cbtics font ",10"
set cblabel sprintf("output error per token, (O'-O)^2%s", log_cb ? " (log scale)" : "") offset 0.5,0 font ",11"
unset key
unset grid
set size ratio 0.5
set xrange [-0.5:79.5]
set yrange [39.5:-0.5]
set xtics out nomirror 16 font ",10"
set ytics out nomirror 8 font ",10"
set multiplot layout 3,3 margins screen 0.0938, 0.8625, 0.1062, 0.8202 spacing screen 0.0500, 0.1284 title "Per-token output error (O'-O)^2, mean over heads and channels: frame 10 of step 0, layer 0\nforced reuse (theta = inf) of one channel group (row) along one axis (column); one colour scale" font ",12"

unset colorbox
set ylabel "h token index (row)" offset 1,0 font ",10"
unset xlabel
set title "t-channels along t" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::0::3199 using (column("w")):(column("h")):(column("err")) with image

unset colorbox
unset ylabel
unset xlabel
set title "t-channels along h" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::3200::6399 using (column("w")):(column("h")):(column("err")) with image

unset colorbox
unset ylabel
unset xlabel
set title "t-channels along w" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::6400::9599 using (column("w")):(column("h")):(column("err")) with image

unset colorbox
set ylabel "h token index (row)" offset 1,0 font ",10"
unset xlabel
set title "h-channels along t" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::9600::12799 using (column("w")):(column("h")):(column("err")) with image

unset colorbox
unset ylabel
unset xlabel
set title "h-channels along h" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::12800::15999 using (column("w")):(column("h")):(column("err")) with image

unset colorbox
unset ylabel
unset xlabel
set title "h-channels along w" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::16000::19199 using (column("w")):(column("h")):(column("err")) with image

unset colorbox
set ylabel "h token index (row)" offset 1,0 font ",10"
set xlabel "w token index (column)" offset 0,0.3 font ",10"
set title "w-channels along t" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::19200::22399 using (column("w")):(column("h")):(column("err")) with image

unset colorbox
unset ylabel
set xlabel "w token index (column)" offset 0,0.3 font ",10"
set title "w-channels along h" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::22400::25599 using (column("w")):(column("h")):(column("err")) with image

@colorbox
unset ylabel
set xlabel "w token index (column)" offset 0,0.3 font ",10"
set title "w-channels along w" offset 0,-0.4 font ",11"
plot "groups_heat.tsv" every ::25600::28799 using (column("w")):(column("h")):(column("err")) with image
unset multiplot

