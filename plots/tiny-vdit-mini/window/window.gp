# Figure of window.tsv; written by ripple (c0ae441). Render: gnuplot window.gp
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
set datafile missing "nan"  # nan cells: skipped, lines go on
set table $M0
plot "window.tsv" using (strcol("theta") eq "0.0102499" ? column("window") : 1e30):(strcol("theta") eq "0.0102499" ? 100*column("s_score") : 1) smooth unique
set table $M1
plot "window.tsv" using (strcol("theta") eq "0.0204999" ? column("window") : 1e30):(strcol("theta") eq "0.0204999" ? 100*column("s_score") : 1) smooth unique
set table $M2
plot "window.tsv" using (strcol("theta") eq "0.0409997" ? column("window") : 1e30):(strcol("theta") eq "0.0409997" ? 100*column("s_score") : 1) smooth unique
set table $M3
plot "window.tsv" using (strcol("theta") eq "0.0819994" ? column("window") : 1e30):(strcol("theta") eq "0.0819994" ? 100*column("s_score") : 1) smooth unique
set table $M4
plot "window.tsv" using (strcol("theta") eq "0.163999" ? column("window") : 1e30):(strcol("theta") eq "0.163999" ? 100*column("s_score") : 1) smooth unique
set table $M5
plot "window.tsv" using (strcol("theta") eq "0.0102499" ? column("window") : 1e30):(strcol("theta") eq "0.0102499" ? 100*column("rows_reused") : 1) smooth unique
set table $M6
plot "window.tsv" using (strcol("theta") eq "0.0204999" ? column("window") : 1e30):(strcol("theta") eq "0.0204999" ? 100*column("rows_reused") : 1) smooth unique
set table $M7
plot "window.tsv" using (strcol("theta") eq "0.0409997" ? column("window") : 1e30):(strcol("theta") eq "0.0409997" ? 100*column("rows_reused") : 1) smooth unique
set table $M8
plot "window.tsv" using (strcol("theta") eq "0.0819994" ? column("window") : 1e30):(strcol("theta") eq "0.0819994" ? 100*column("rows_reused") : 1) smooth unique
set table $M9
plot "window.tsv" using (strcol("theta") eq "0.163999" ? column("window") : 1e30):(strcol("theta") eq "0.163999" ? 100*column("rows_reused") : 1) smooth unique
set table $M10
plot "window.tsv" using (strcol("theta") eq "0.0102499" ? column("window") : 1e30):(strcol("theta") eq "0.0102499" ? column("mse") : 1) smooth unique
set table $M11
plot "window.tsv" using (strcol("theta") eq "0.0204999" ? column("window") : 1e30):(strcol("theta") eq "0.0204999" ? column("mse") : 1) smooth unique
set table $M12
plot "window.tsv" using (strcol("theta") eq "0.0409997" ? column("window") : 1e30):(strcol("theta") eq "0.0409997" ? column("mse") : 1) smooth unique
set table $M13
plot "window.tsv" using (strcol("theta") eq "0.0819994" ? column("window") : 1e30):(strcol("theta") eq "0.0819994" ? column("mse") : 1) smooth unique
set table $M14
plot "window.tsv" using (strcol("theta") eq "0.163999" ? column("window") : 1e30):(strcol("theta") eq "0.163999" ? column("mse") : 1) smooth unique
unset table
# the means' tables: x, mean, no header, spaces between
set datafile nocolumnheaders
set datafile separator whitespace
set xrange [1.5:8.5]
set multiplot layout 3,1 title "Window size (paper Fig. 11): every size at the threshold of window 2, one curve per threshold\nmeans over captured steps and layers"
set lmargin 12
set rmargin 28

set title "score savings s_score (partial scores not computed)"
unset label 1
set xlabel ""
set xtics ("" 2, "" 3, "" 4, "" 6, "" 8)
unset logscale y
set autoscale y
set format y "%g"
set ylabel "score savings (%)"
set yrange [0:100]
set key outside right top Left reverse nobox samplen 2 title "threshold"
plot $M0 using ($1 < 1e29 ? $1 : NaN):($2) axes x1y1 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "0.0102 (0.25x median)", \
     $M1 using ($1 < 1e29 ? $1 : NaN):($2) axes x1y1 with linespoints lw 2 pt 7 lc rgb "#ff7f0e" title "0.0205 (0.5x median)", \
     $M2 using ($1 < 1e29 ? $1 : NaN):($2) axes x1y1 with linespoints lw 2 pt 7 lc rgb "#2ca02c" title "0.041 (1x median)", \
     $M3 using ($1 < 1e29 ? $1 : NaN):($2) axes x1y1 with linespoints lw 2 pt 7 lc rgb "#d62728" title "0.082 (2x median)", \
     $M4 using ($1 < 1e29 ? $1 : NaN):($2) axes x1y1 with linespoints lw 2 pt 7 lc rgb "#9467bd" title "0.164 (4x median)"

set title "query rows fully reused (% of rows; none of their scores computed)"
unset label 1
set xlabel ""
set xtics ("" 2, "" 3, "" 4, "" 6, "" 8)
unset logscale y
set autoscale y
set format y "%g"
set ylabel "rows reused (%) (log)"
set logscale y
set format y "%.0e"
set yrange [0.00812217:73.6842]
unset key
plot $M5 using ($1 < 1e29 ? $1 : NaN):($2 > 0 ? $2 : NaN) axes x1y1 with linespoints lw 2 pt 7 lc rgb "#1f77b4" notitle, \
     $M5 using ($1 < 1e29 ? $1 : NaN):($2 <= 0 ? 0.00812217 : NaN) axes x1y1 with points pt 11 ps 1.2 lc rgb "#1f77b4" notitle, \
     $M6 using ($1 < 1e29 ? $1 : NaN):($2 > 0 ? $2 : NaN) axes x1y1 with linespoints lw 2 pt 7 lc rgb "#ff7f0e" notitle, \
     $M6 using ($1 < 1e29 ? $1 : NaN):($2 <= 0 ? 0.00812217 : NaN) axes x1y1 with points pt 11 ps 1.2 lc rgb "#ff7f0e" notitle, \
     $M7 using ($1 < 1e29 ? $1 : NaN):($2 > 0 ? $2 : NaN) axes x1y1 with linespoints lw 2 pt 7 lc rgb "#2ca02c" notitle, \
     $M7 using ($1 < 1e29 ? $1 : NaN):($2 <= 0 ? 0.00812217 : NaN) axes x1y1 with points pt 11 ps 1.2 lc rgb "#2ca02c" notitle, \
     $M8 using ($1 < 1e29 ? $1 : NaN):($2 > 0 ? $2 : NaN) axes x1y1 with linespoints lw 2 pt 7 lc rgb "#d62728" notitle, \
     $M8 using ($1 < 1e29 ? $1 : NaN):($2 <= 0 ? 0.00812217 : NaN) axes x1y1 with points pt 11 ps 1.2 lc rgb "#d62728" notitle, \
     $M9 using ($1 < 1e29 ? $1 : NaN):($2 > 0 ? $2 : NaN) axes x1y1 with linespoints lw 2 pt 7 lc rgb "#9467bd" notitle, \
     $M9 using ($1 < 1e29 ? $1 : NaN):($2 <= 0 ? 0.00812217 : NaN) axes x1y1 with points pt 11 ps 1.2 lc rgb "#9467bd" notitle

set title "output MSE vs exact attention"
unset label 1
set xlabel "window size w (tokens)"
set xtics ("2" 2, "3" 3, "4" 4, "6" 6, "8" 8)
unset logscale y
set autoscale y
set format y "%g"
set ylabel "output MSE (log)"
set logscale y
set format y "%.0e"
set yrange [4.6014e-11:0.0157398]
unset key
plot $M10 using ($1 < 1e29 ? $1 : NaN):($2 > 0 ? $2 : NaN) axes x1y1 with linespoints lw 2 pt 7 lc rgb "#1f77b4" notitle, \
     $M11 using ($1 < 1e29 ? $1 : NaN):($2 > 0 ? $2 : NaN) axes x1y1 with linespoints lw 2 pt 7 lc rgb "#ff7f0e" notitle, \
     $M12 using ($1 < 1e29 ? $1 : NaN):($2 > 0 ? $2 : NaN) axes x1y1 with linespoints lw 2 pt 7 lc rgb "#2ca02c" notitle, \
     $M13 using ($1 < 1e29 ? $1 : NaN):($2 > 0 ? $2 : NaN) axes x1y1 with linespoints lw 2 pt 7 lc rgb "#d62728" notitle, \
     $M14 using ($1 < 1e29 ? $1 : NaN):($2 > 0 ? $2 : NaN) axes x1y1 with linespoints lw 2 pt 7 lc rgb "#9467bd" notitle
unset multiplot

