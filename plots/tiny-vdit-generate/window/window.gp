# Figure of window.tsv; written by ripple (6dc023e). Render: gnuplot window.gp
# (set fmt to "svg" or "pdf" with: gnuplot -e 'fmt="svg"' window.gp)
if (!exists("fmt")) fmt = "png"
if (!exists("out")) out = "window.".fmt
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
set multiplot layout 2,1 title "Window size (paper Fig. 11): every size at the threshold of window 2, one curve per threshold\nmeans over captured steps and layers"
set xrange [1.5:8.5]
set xtics ("2" 2, "4" 4, "8" 8)
set grid ytics
set key outside right top vertical
set lmargin 10
set rmargin 24
set ylabel "savings (%)"
set yrange [0:100]
set label 1 "solid: score savings s_score\ndashed: query rows fully reused" at graph 0.02, graph 0.12 front
plot "window.tsv" using (strcol("theta") eq "0.0114441" ? column("window") : NaN):(100*column("s_score")) smooth unique with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "theta 0.0114 (0.25x median)", \
  "" using (strcol("theta") eq "0.0114441" ? column("window") : NaN):(100*column("rows_reused")) smooth unique with linespoints lw 1.5 dt 2 pt 6 lc rgb "#1f77b4" notitle, \
  "window.tsv" using (strcol("theta") eq "0.0228882" ? column("window") : NaN):(100*column("s_score")) smooth unique with linespoints lw 2 pt 7 lc rgb "#ff7f0e" title "theta 0.0229 (0.5x median)", \
  "" using (strcol("theta") eq "0.0228882" ? column("window") : NaN):(100*column("rows_reused")) smooth unique with linespoints lw 1.5 dt 2 pt 6 lc rgb "#ff7f0e" notitle, \
  "window.tsv" using (strcol("theta") eq "0.0457764" ? column("window") : NaN):(100*column("s_score")) smooth unique with linespoints lw 2 pt 7 lc rgb "#2ca02c" title "theta 0.0458 (1x median)", \
  "" using (strcol("theta") eq "0.0457764" ? column("window") : NaN):(100*column("rows_reused")) smooth unique with linespoints lw 1.5 dt 2 pt 6 lc rgb "#2ca02c" notitle, \
  "window.tsv" using (strcol("theta") eq "0.0915527" ? column("window") : NaN):(100*column("s_score")) smooth unique with linespoints lw 2 pt 7 lc rgb "#d62728" title "theta 0.0916 (2x median)", \
  "" using (strcol("theta") eq "0.0915527" ? column("window") : NaN):(100*column("rows_reused")) smooth unique with linespoints lw 1.5 dt 2 pt 6 lc rgb "#d62728" notitle, \
  "window.tsv" using (strcol("theta") eq "0.183105" ? column("window") : NaN):(100*column("s_score")) smooth unique with linespoints lw 2 pt 7 lc rgb "#9467bd" title "theta 0.183 (4x median)", \
  "" using (strcol("theta") eq "0.183105" ? column("window") : NaN):(100*column("rows_reused")) smooth unique with linespoints lw 1.5 dt 2 pt 6 lc rgb "#9467bd" notitle
unset label 1
set xlabel "window size w (tokens)"
set yrange [*:*]
stats "window.tsv" using (column("mse")) nooutput
# a log axis needs mse > 0; with nothing reused (--theta 0) every mse is 0
if (STATS_max > 0) { set logscale y; set format y "%.0e"; set ylabel "output MSE vs exact (log)" } \
else { set yrange [0:1]; set ylabel "output MSE vs exact (all 0)" }
mse_pos = STATS_max > 0
plot "window.tsv" using (strcol("theta") eq "0.0114441" && (column("mse") > 0 || !mse_pos) ? column("window") : NaN):(column("mse")) smooth unique with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "theta 0.0114 (0.25x median)", \
  "window.tsv" using (strcol("theta") eq "0.0228882" && (column("mse") > 0 || !mse_pos) ? column("window") : NaN):(column("mse")) smooth unique with linespoints lw 2 pt 7 lc rgb "#ff7f0e" title "theta 0.0229 (0.5x median)", \
  "window.tsv" using (strcol("theta") eq "0.0457764" && (column("mse") > 0 || !mse_pos) ? column("window") : NaN):(column("mse")) smooth unique with linespoints lw 2 pt 7 lc rgb "#2ca02c" title "theta 0.0458 (1x median)", \
  "window.tsv" using (strcol("theta") eq "0.0915527" && (column("mse") > 0 || !mse_pos) ? column("window") : NaN):(column("mse")) smooth unique with linespoints lw 2 pt 7 lc rgb "#d62728" title "theta 0.0916 (2x median)", \
  "window.tsv" using (strcol("theta") eq "0.183105" && (column("mse") > 0 || !mse_pos) ? column("window") : NaN):(column("mse")) smooth unique with linespoints lw 2 pt 7 lc rgb "#9467bd" title "theta 0.183 (4x median)"
unset multiplot

