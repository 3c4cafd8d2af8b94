# Figure of window.tsv; written by ripple (85ff7ff). Render: gnuplot window.gp
# (set fmt to "svg" or "pdf" with: gnuplot -e 'fmt="svg"' window.gp)
if (!exists("fmt")) fmt = "png"
if (!exists("out")) out = "window.".fmt
if (fmt eq "png") set terminal pngcairo size 800,900 font "DejaVu Sans,11" noenhanced
if (fmt eq "svg") set terminal svg size 800,900 font "DejaVu Sans,11" noenhanced
if (fmt eq "pdf") set terminal pdfcairo size 8.33in,9.38in font "DejaVu Sans,9" noenhanced
set output out
set datafile separator "\t"
set datafile commentschars "#"
set key outside right top box
set grid lc rgb "#dddddd"
set border lw 1.2

set datafile columnheaders
regime(s) = s eq "0.0102499" ? 0 : s eq "0.0204999" ? 1 : s eq "0.0409997" ? 2 : s eq "0.0819994" ? 3 : s eq "0.163999" ? 4 : -1
# means over units per (regime, window): x = 10000 * regime + window
rx = "10000 * regime(strcol(\"theta\")) + column(\"window\")"
set table $SCORE
plot "window.tsv" using (@rx):(100*column("s_score")) smooth unique
set table $ROWS
plot "window.tsv" using (@rx):(100*column("rows_reused")) smooth unique
set table $MSE
plot "window.tsv" using (@rx):(column("mse")) smooth unique
unset table
# the tables have no header and spaces between their columns: x, mean
set datafile nocolumnheaders
set datafile separator whitespace
stats $ROWS using 2 nooutput
rows_hi = STATS_max
stats $MSE using 2 nooutput
mse_hi = STATS_max
set multiplot title "Window size (paper Fig. 11): every size at the threshold of window 2, one curve per threshold\nmeans over captured steps and layers"
set lmargin at screen 0.1000
set rmargin at screen 0.7125
set xrange [1.5:8.5]
set grid ytics
unset key
# upper panel: score savings, and the key of the thresholds at its right
set tmargin at screen 0.8944
set bmargin at screen 0.6167
set xtics ("" 2, "" 3, "" 4, "" 6, "" 8)
set title "score savings s_score (partial scores not computed)" offset 0,-0.6
set ylabel "score savings (%)"
set yrange [0:100]
set ytics 20
set key at screen 0.7312, screen 0.8944 left top vertical Left reverse nobox samplen 2 title "threshold"
plot $SCORE using ($1 >= 0 && $1 < 10000 ? $1 - 0 : NaN):2 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "0.0102 (0.25x median)", \
     $SCORE using ($1 >= 10000 && $1 < 20000 ? $1 - 10000 : NaN):2 with linespoints lw 2 pt 7 lc rgb "#ff7f0e" title "0.0205 (0.5x median)", \
     $SCORE using ($1 >= 20000 && $1 < 30000 ? $1 - 20000 : NaN):2 with linespoints lw 2 pt 7 lc rgb "#2ca02c" title "0.041 (1x median)", \
     $SCORE using ($1 >= 30000 && $1 < 40000 ? $1 - 30000 : NaN):2 with linespoints lw 2 pt 7 lc rgb "#d62728" title "0.082 (2x median)", \
     $SCORE using ($1 >= 40000 && $1 < 50000 ? $1 - 40000 : NaN):2 with linespoints lw 2 pt 7 lc rgb "#9467bd" title "0.164 (4x median)"
# middle panel: query rows fully reused, on a log axis fitted to its values > 0
# (they span decades across thresholds); a mean of 0 is a triangle on the bottom edge
unset key
set tmargin at screen 0.5389
set bmargin at screen 0.3667
set title "query rows fully reused (% of rows; none of their scores computed)".(rows_hi > 0 ? "\nlog axis; a triangle on the bottom edge: no row fully reused" : "") offset 0,-0.6
set ylabel "rows reused (%)"
set ytics autofreq
if (rows_hi > 0) { stats $ROWS using ($2 > 0 ? $2 : NaN) nooutput; rows_lo = STATS_min / 3; set logscale y; set yrange [rows_lo : rows_hi * 2]; set format y "%g"; if (rows_hi * 2 < 100 * rows_lo) { do for [e = floor(log10(rows_lo)) : ceil(log10(rows_hi * 2))] { set ytics add (2 * 10.0**e, 5 * 10.0**e) } } } \
else { rows_lo = 0; set yrange [0:1]; set label 1 "no query row fully reused at any window size" at graph 0.5, graph 0.5 center }
plot $ROWS using ($1 >= 0 && $1 < 10000 ? $1 - 0 : NaN):(rows_hi > 0 && $2 <= 0 ? NaN : $2) with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "", \
     $ROWS using ($1 >= 0 && $1 < 10000 && rows_hi > 0 && $2 <= 0 ? $1 - 0 -0.160 : NaN):(rows_lo) with points pt 11 ps 1.2 lc rgb "#1f77b4" notitle, \
     $ROWS using ($1 >= 10000 && $1 < 20000 ? $1 - 10000 : NaN):(rows_hi > 0 && $2 <= 0 ? NaN : $2) with linespoints lw 2 pt 7 lc rgb "#ff7f0e" title "", \
     $ROWS using ($1 >= 10000 && $1 < 20000 && rows_hi > 0 && $2 <= 0 ? $1 - 10000 -0.080 : NaN):(rows_lo) with points pt 11 ps 1.2 lc rgb "#ff7f0e" notitle, \
     $ROWS using ($1 >= 20000 && $1 < 30000 ? $1 - 20000 : NaN):(rows_hi > 0 && $2 <= 0 ? NaN : $2) with linespoints lw 2 pt 7 lc rgb "#2ca02c" title "", \
     $ROWS using ($1 >= 20000 && $1 < 30000 && rows_hi > 0 && $2 <= 0 ? $1 - 20000 +0.000 : NaN):(rows_lo) with points pt 11 ps 1.2 lc rgb "#2ca02c" notitle, \
     $ROWS using ($1 >= 30000 && $1 < 40000 ? $1 - 30000 : NaN):(rows_hi > 0 && $2 <= 0 ? NaN : $2) with linespoints lw 2 pt 7 lc rgb "#d62728" title "", \
     $ROWS using ($1 >= 30000 && $1 < 40000 && rows_hi > 0 && $2 <= 0 ? $1 - 30000 +0.080 : NaN):(rows_lo) with points pt 11 ps 1.2 lc rgb "#d62728" notitle, \
     $ROWS using ($1 >= 40000 && $1 < 50000 ? $1 - 40000 : NaN):(rows_hi > 0 && $2 <= 0 ? NaN : $2) with linespoints lw 2 pt 7 lc rgb "#9467bd" title "", \
     $ROWS using ($1 >= 40000 && $1 < 50000 && rows_hi > 0 && $2 <= 0 ? $1 - 40000 +0.160 : NaN):(rows_lo) with points pt 11 ps 1.2 lc rgb "#9467bd" notitle
# lower panel: output MSE; a log axis needs mse > 0 (with nothing reused every mse is 0)
unset label 1
unset logscale y
set tmargin at screen 0.3111
set bmargin at screen 0.0778
set xtics ("2" 2, "3" 3, "4" 4, "6" 6, "8" 8)
set xlabel "window size w (tokens)"
set title "output MSE vs exact attention" offset 0,-0.6
set autoscale y
set ytics autofreq
if (mse_hi > 0) { set logscale y; set format y "%.0e"; set ylabel "output MSE (log)" } \
else { set yrange [0:1]; set ylabel "output MSE (all 0)" }
plot $MSE using ($1 >= 0 && $1 < 10000 ? $1 - 0 : NaN):(mse_hi > 0 && $2 <= 0 ? NaN : $2) with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "", \
     $MSE using ($1 >= 10000 && $1 < 20000 ? $1 - 10000 : NaN):(mse_hi > 0 && $2 <= 0 ? NaN : $2) with linespoints lw 2 pt 7 lc rgb "#ff7f0e" title "", \
     $MSE using ($1 >= 20000 && $1 < 30000 ? $1 - 20000 : NaN):(mse_hi > 0 && $2 <= 0 ? NaN : $2) with linespoints lw 2 pt 7 lc rgb "#2ca02c" title "", \
     $MSE using ($1 >= 30000 && $1 < 40000 ? $1 - 30000 : NaN):(mse_hi > 0 && $2 <= 0 ? NaN : $2) with linespoints lw 2 pt 7 lc rgb "#d62728" title "", \
     $MSE using ($1 >= 40000 && $1 < 50000 ? $1 - 40000 : NaN):(mse_hi > 0 && $2 <= 0 ? NaN : $2) with linespoints lw 2 pt 7 lc rgb "#9467bd" title ""
unset multiplot

