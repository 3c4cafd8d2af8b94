# Figure of steps.tsv; written by ripple (85ff7ff). Render: gnuplot steps.gp
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
set title "Output error per denoising step: tiny-vdit, theta = 0.0409997, axes thw, window 2\n(noise floor, fp32 vs fp64 exact attention: mean MSE 8.5e-13)"
set format y "%.2e"
set bmargin 6
set xlabel "denoising step (zero-based)"
set ylabel "attention output MSE vs exact (mean over layers, heads)"
set key below box maxcols 2
f = "steps.tsv"
plot \
  f using (strcol("kind") eq "capture" && strcol("capture") eq "0" ? column("step") : NaN):(column("mse")) with linespoints lw 1.5 pt 7 ps 0.7 title "class 7 (Sneaker) seed 0", \
  f using (strcol("kind") eq "mean" ? column("step") : NaN):(column("mse")) with linespoints lw 3.5 lc rgb "black" pt 5 ps 1 title "mean over 1 capture", \
  f using (strcol("kind") eq "trend" ? column("step") : NaN):(column("mse")) with lines dt 2 lw 2.5 lc rgb "red" title "trend: x0.969 per step"

