# Figure of compare.tsv; written by ripple (6dc023e). Render: gnuplot compare.gp
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

# Reads compare_summary.tsv (mean over units per method and threshold),
# written by the same run as compare.tsv.
S = "compare_summary.tsv"
set datafile columnheaders
stats S using (column("mse_floor") > 0 ? column("mse_floor") : NaN) nooutput
floor = STATS_mean
set key outside right top Left reverse box samplen 2 spacing 1.1 width 1
set logscale y
set format y "%.0e"
set ylabel "output MSE vs exact attention"
set style data linespoints
set multiplot layout 2,1
set title "Reuse vs masking at equal attention savings (mean over units)"
set xlabel "attention savings s_attn (% of QK^T + PV FLOPs)"
plot S using (strcol("method") eq "reuse" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 3 pt 7 ps 0.9 lc rgb "#d62728" title "reuse", \
     S using (strcol("method") eq "mask-skip" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 7 ps 0.9 lc rgb "#7f7f7f" title "mask-skip", \
     S using (strcol("method") eq "mask-magnitude" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 7 ps 0.9 lc rgb "#8c564b" title "mask-magnitude", \
     S using (strcol("method") eq "svg" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 5 ps 0.9 lc rgb "#1f77b4" title "svg", \
     S using (strcol("method") eq "window" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 5 ps 0.9 lc rgb "#17becf" title "window", \
     S using (strcol("method") eq "oracle-topk" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 5 ps 0.9 lc rgb "#2ca02c" title "oracle-topk", \
     floor with lines dt 2 lw 2 lc rgb "black" title "fp32 noise floor"
set title "Score-level methods at equal score savings"
set xlabel "score savings s_score (% of partial scores q_c k_c)"
plot S using (strcol("method") eq "reuse" ? 100*column("s_score") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 3 pt 7 ps 0.9 lc rgb "#d62728" title "reuse", \
     S using (strcol("method") eq "mask-skip" ? 100*column("s_score") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 7 ps 0.9 lc rgb "#7f7f7f" title "mask-skip", \
     S using (strcol("method") eq "mask-magnitude" ? 100*column("s_score") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 7 ps 0.9 lc rgb "#8c564b" title "mask-magnitude", \
     floor with lines dt 2 lw 2 lc rgb "black" title "fp32 noise floor"
unset multiplot

