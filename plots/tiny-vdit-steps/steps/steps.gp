# Figure of steps.tsv; written by ripple (c0ae441). Render: gnuplot steps.gp
# (set fmt to "svg" or "pdf" with: gnuplot -e 'fmt="svg"' steps.gp)
if (!exists("fmt")) fmt = "png"
if (!exists("out")) out = "steps.".fmt
if (fmt eq "png") set terminal pngcairo size 900,600 font "DejaVu Sans,11" noenhanced
if (fmt eq "svg") set terminal svg size 900,600 font "DejaVu Sans,11" noenhanced
if (fmt eq "pdf") set terminal pdfcairo size 9.38in,6.25in font "DejaVu Sans,9" noenhanced
set output out
set datafile separator "\t"
set datafile commentschars "#"
set key outside right top box
set grid lc rgb "#dddddd"
set border lw 1.2

set datafile columnheaders
set datafile missing "nan"  # nan cells: skipped, lines go on
set bmargin 7

set title "Output error per denoising step: tiny-vdit, theta = 0.0457764, axes thw, window 2\nfp32 noise floor (vs fp64), mean MSE: 5.6e-13, far below the data: not drawn"
unset label 1
set xlabel "denoising step (zero-based)"
unset logscale y
set autoscale y
set format y "%.2e"
set ylabel "attention output MSE vs exact (mean over layers, heads)"
set key below box maxcols 2
plot "steps.tsv" using (strcol("kind") eq "capture" && strcol("capture") eq "0" ? column("step") : NaN):(column("mse")) axes x1y1 with linespoints lw 1.5 dt 1 pt 7 ps 0.7 lc rgb "#1f77b4" title "class 7 (Sneaker) seed 0", \
     "steps.tsv" using (strcol("kind") eq "capture" && strcol("capture") eq "1" ? column("step") : NaN):(column("mse")) axes x1y1 with linespoints lw 1.5 dt 1 pt 7 ps 0.7 lc rgb "#ff7f0e" title "class 1 (Trouser) seed 2", \
     "steps.tsv" using (strcol("kind") eq "mean" ? column("step") : NaN):(column("mse")) axes x1y1 with linespoints lw 3.5 pt 5 ps 1 lc rgb "black" title "mean over 2 captures", \
     "steps.tsv" using (strcol("kind") eq "trend" ? column("step") : NaN):(column("mse")) axes x1y1 with lines dt 2 lw 2.5 lc rgb "red" title "trend: x0.964 per step"

