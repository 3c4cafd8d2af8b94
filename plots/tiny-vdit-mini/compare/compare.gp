# Figure of compare.tsv; written by ripple (c0ae441). Render: gnuplot compare.gp
# (set fmt to "svg" or "pdf" with: gnuplot -e 'fmt="svg"' compare.gp)
if (!exists("fmt")) fmt = "png"
if (!exists("out")) out = "compare.".fmt
if (fmt eq "png") set terminal pngcairo size 800,1000 font "DejaVu Sans,11" noenhanced
if (fmt eq "svg") set terminal svg size 800,1000 font "DejaVu Sans,11" noenhanced
if (fmt eq "pdf") set terminal pdfcairo size 8.33in,10.42in font "DejaVu Sans,9" noenhanced
set output out
set datafile separator "\t"
set datafile commentschars "#"
set key outside right top box
set grid lc rgb "#dddddd"
set border lw 1.2

set datafile columnheaders
set datafile missing "nan"  # nan cells: skipped, lines go on
set multiplot layout 2,1 title ""
set lmargin 12
set rmargin 24

set title "Reuse vs masking at equal attention savings (mean over units)\nfp32 noise floor: 7.5e-13, far below the data: not drawn"
unset label 1
set xlabel "attention savings s_attn (% of QK^T + PV FLOPs)"
unset logscale y
set autoscale y
set format y "%g"
set ylabel "output MSE vs exact attention (log)"
set logscale y
set format y "%.0e"
set yrange [1.09738e-09:0.763809]
set key outside right top Left reverse box samplen 2 spacing 1.1 width 1
plot "compare_summary.tsv" using (strcol("method") eq "reuse" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) axes x1y1 with linespoints lw 3 pt 7 ps 0.9 lc rgb "#d62728" title "reuse", \
     "compare_summary.tsv" using (strcol("method") eq "mask-skip" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) axes x1y1 with linespoints lw 2 pt 7 ps 0.9 lc rgb "#7f7f7f" title "mask-skip", \
     "compare_summary.tsv" using (strcol("method") eq "mask-magnitude" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) axes x1y1 with linespoints lw 2 pt 7 ps 0.9 lc rgb "#8c564b" title "mask-magnitude", \
     "compare_summary.tsv" using (strcol("method") eq "svg" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) axes x1y1 with linespoints lw 2 pt 5 ps 0.9 lc rgb "#1f77b4" title "svg", \
     "compare_summary.tsv" using (strcol("method") eq "window" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) axes x1y1 with linespoints lw 2 pt 5 ps 0.9 lc rgb "#17becf" title "window", \
     "compare_summary.tsv" using (strcol("method") eq "oracle-topk" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) axes x1y1 with linespoints lw 2 pt 5 ps 0.9 lc rgb "#2ca02c" title "oracle-topk", \
     "compare_summary.tsv" using (strcol("method") eq "reuse-t" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) axes x1y1 with linespoints lw 2 pt 7 ps 0.9 lc rgb "#ff7f0e" title "reuse-t", \
     "compare_summary.tsv" using (strcol("method") eq "reuse-channel" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) axes x1y1 with linespoints lw 2 pt 7 ps 0.9 lc rgb "#9467bd" title "reuse-channel", \
     "compare_summary.tsv" using (strcol("method") eq "reuse-ramp" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) axes x1y1 with linespoints lw 2 pt 9 ps 2.0 lc rgb "#e377c2" title "reuse-ramp"

set title "Score-level methods at equal score savings\nfp32 noise floor: 7.5e-13, far below the data: not drawn"
unset label 1
set xlabel "score savings s_score (% of partial scores q_c k_c)"
unset logscale y
set autoscale y
set format y "%g"
set ylabel "output MSE vs exact attention (log)"
set logscale y
set format y "%.0e"
set yrange [1.09738e-09:0.763809]
set key outside right top Left reverse box samplen 2 spacing 1.1 width 1
plot "compare_summary.tsv" using (strcol("method") eq "reuse" ? 100*column("s_score") : NaN):(column("mse") > 0 ? column("mse") : NaN) axes x1y1 with linespoints lw 3 pt 7 ps 0.9 lc rgb "#d62728" title "reuse", \
     "compare_summary.tsv" using (strcol("method") eq "mask-skip" ? 100*column("s_score") : NaN):(column("mse") > 0 ? column("mse") : NaN) axes x1y1 with linespoints lw 2 pt 7 ps 0.9 lc rgb "#7f7f7f" title "mask-skip", \
     "compare_summary.tsv" using (strcol("method") eq "mask-magnitude" ? 100*column("s_score") : NaN):(column("mse") > 0 ? column("mse") : NaN) axes x1y1 with linespoints lw 2 pt 7 ps 0.9 lc rgb "#8c564b" title "mask-magnitude", \
     "compare_summary.tsv" using (strcol("method") eq "reuse-t" ? 100*column("s_score") : NaN):(column("mse") > 0 ? column("mse") : NaN) axes x1y1 with linespoints lw 2 pt 7 ps 0.9 lc rgb "#ff7f0e" title "reuse-t", \
     "compare_summary.tsv" using (strcol("method") eq "reuse-channel" ? 100*column("s_score") : NaN):(column("mse") > 0 ? column("mse") : NaN) axes x1y1 with linespoints lw 2 pt 7 ps 0.9 lc rgb "#9467bd" title "reuse-channel", \
     "compare_summary.tsv" using (strcol("method") eq "reuse-ramp" ? 100*column("s_score") : NaN):(column("mse") > 0 ? column("mse") : NaN) axes x1y1 with linespoints lw 2 pt 9 ps 2.0 lc rgb "#e377c2" title "reuse-ramp"
unset multiplot

