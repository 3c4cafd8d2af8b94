# Figure of fit.tsv; written by ripple (85ff7ff). Render: gnuplot fit.gp
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
set title "Threshold ramp for target MSE 6.29113e-05: tiny-vdit (absolute, axes thw, window 2)"
set xlabel "denoising step (zero-based)"
set ylabel "threshold theta (units of q and k)"
set y2label "attention output MSE vs exact (log)"
set xrange [-0.5:49.5]
set yrange [0:*]
set logscale y2
set format y2 "%.0e"
set y2tics
set ytics nomirror
set key below box
set bmargin 7
set datafile missing "nan"  # steps not captured: skipped, lines go on
f = "fit.tsv"
captured(c) = strcol("captured") eq "1" ? column(c) : NaN
plot f using (column("step")):(captured("theta_measured")) with points pt 7 ps 1.4 lc rgb "#1f77b4" title "measured theta_i (bisection)", \
  f using (column("step")):(column("theta_ramp")) with linespoints lw 2.5 pt 7 ps 0.5 lc rgb "#ff7f0e" title "fitted ramp", \
  f using (column("step")):(column("mse_at_ramp")) axes x1y2 with linespoints lw 1.5 pt 6 ps 1.2 lc rgb "#2ca02c" title "MSE at the ramp (right axis)", \
  f using (column("step")):(captured("mse_at_theta") > 0 ? column("mse_at_theta") : NaN) axes x1y2 with points pt 2 ps 1 lc rgb "#9467bd" title "MSE at measured theta_i (right)", \
  f using (column("step")):(column("target")) axes x1y2 with lines dt 2 lw 2 lc rgb "red" title "target MSE (right)"

