# Figure of fit.tsv; written by ripple (c0ae441). Render: gnuplot fit.gp
# (set fmt to "svg" or "pdf" with: gnuplot -e 'fmt="svg"' fit.gp)
if (!exists("fmt")) fmt = "png"
if (!exists("out")) out = "fit.".fmt
if (fmt eq "png") set terminal pngcairo size 1000,560 font "DejaVu Sans,11" noenhanced
if (fmt eq "svg") set terminal svg size 1000,560 font "DejaVu Sans,11" noenhanced
if (fmt eq "pdf") set terminal pdfcairo size 10.42in,5.83in font "DejaVu Sans,9" noenhanced
set output out
set datafile separator "\t"
set datafile commentschars "#"
set key outside right top box
set grid lc rgb "#dddddd"
set border lw 1.2

set datafile columnheaders
set datafile missing "nan"  # nan cells: skipped, lines go on
set xrange [-0.5:49.5]
set bmargin 7

set title "Threshold ramp for target MSE 0.00011341: tiny-vdit (absolute, axes thw, window 2)"
unset label 1
set xlabel "denoising step (zero-based)"
unset logscale y
set autoscale y
set format y "%g"
set ylabel "threshold theta (units of q and k)"
set yrange [0:*]
unset logscale y2
set autoscale y2
set format y2 "%g"
set y2label "attention output MSE vs exact"
set y2tics
set ytics nomirror
set key below box
plot "fit.tsv" using (strcol("captured") eq "1" ? column("step") : NaN):(column("theta_measured")) axes x1y1 with points pt 7 ps 1.4 lc rgb "#1f77b4" title "measured theta_i (bisection)", \
     "fit.tsv" using (column("step")):(column("theta_ramp")) axes x1y1 with linespoints lw 2.5 pt 7 ps 0.5 lc rgb "#ff7f0e" title "fitted ramp", \
     "fit.tsv" using (column("step")):(column("mse_at_ramp")) axes x1y2 with linespoints lw 1.5 pt 6 ps 1.2 lc rgb "#2ca02c" title "MSE at the ramp (right axis)", \
     "fit.tsv" using (strcol("captured") eq "1" ? column("step") : NaN):(column("mse_at_theta")) axes x1y2 with points pt 2 ps 1 lc rgb "#9467bd" title "MSE at measured theta_i (right)", \
     (0.00011341) axes x1y2 with lines dt 2 lw 2 lc rgb "red" title "target MSE (right)"

