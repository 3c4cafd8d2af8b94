# Figure of compare.tsv; written by ripple (85ff7ff). Render: gnuplot compare.gp
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
floor = NaN
stats S using (column("mse_floor") > 0 ? column("mse_floor") : NaN) nooutput
floor = STATS_mean
set key outside right top Left reverse box samplen 2 spacing 1.1 width 1
set logscale y
set format y "%.0e"
stats S using (column("mse") > 0 ? column("mse") : NaN) nooutput
mse_lo = STATS_min; mse_hi = STATS_max
# the floor as a line when within two decades below the data, else a note
floor_on = floor > 0 && floor >= mse_lo / 100
set yrange [(floor_on && floor < mse_lo ? floor : mse_lo) / 3 : mse_hi * 3]
floor_note = floor > 0 && !floor_on ? sprintf("\nfp32 noise floor (fp32 vs fp64 exact attention): MSE %.1e, below the y axis", floor) : ""
set ylabel "output MSE vs exact attention"
set style data linespoints
set multiplot layout 2,1
set title "Reuse vs masking at equal attention savings (mean over units)".floor_note
set xlabel "attention savings s_attn (% of QK^T + PV FLOPs)"
plot S using (strcol("method") eq "reuse" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 3 pt 7 ps 0.9 lc rgb "#d62728" title "reuse", \
     S using (strcol("method") eq "mask-skip" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 7 ps 0.9 lc rgb "#7f7f7f" title "mask-skip", \
     S using (strcol("method") eq "mask-magnitude" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 7 ps 0.9 lc rgb "#8c564b" title "mask-magnitude", \
     S using (strcol("method") eq "svg" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 5 ps 0.9 lc rgb "#1f77b4" title "svg", \
     S using (strcol("method") eq "window" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 5 ps 0.9 lc rgb "#17becf" title "window", \
     S using (strcol("method") eq "oracle-topk" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 5 ps 0.9 lc rgb "#2ca02c" title "oracle-topk", \
     S using (strcol("method") eq "reuse-t" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 7 ps 0.9 lc rgb "#ff7f0e" title "reuse-t", \
     S using (strcol("method") eq "reuse-channel" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 7 ps 0.9 lc rgb "#9467bd" title "reuse-channel", \
     S using (strcol("method") eq "reuse-ramp" ? 100*column("s_attn") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 9 ps 2.0 lc rgb "#e377c2" title "reuse-ramp", \
     (floor_on ? floor : NaN) with lines dt 2 lw 2 lc rgb "black" title (floor_on ? "fp32 noise floor" : "")
set title "Score-level methods at equal score savings".floor_note
set xlabel "score savings s_score (% of partial scores q_c k_c)"
plot S using (strcol("method") eq "reuse" ? 100*column("s_score") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 3 pt 7 ps 0.9 lc rgb "#d62728" title "reuse", \
     S using (strcol("method") eq "mask-skip" ? 100*column("s_score") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 7 ps 0.9 lc rgb "#7f7f7f" title "mask-skip", \
     S using (strcol("method") eq "mask-magnitude" ? 100*column("s_score") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 7 ps 0.9 lc rgb "#8c564b" title "mask-magnitude", \
     S using (strcol("method") eq "reuse-t" ? 100*column("s_score") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 7 ps 0.9 lc rgb "#ff7f0e" title "reuse-t", \
     S using (strcol("method") eq "reuse-channel" ? 100*column("s_score") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 7 ps 0.9 lc rgb "#9467bd" title "reuse-channel", \
     S using (strcol("method") eq "reuse-ramp" ? 100*column("s_score") : NaN):(column("mse") > 0 ? column("mse") : NaN) lw 2 pt 9 ps 2.0 lc rgb "#e377c2" title "reuse-ramp", \
     (floor_on ? floor : NaN) with lines dt 2 lw 2 lc rgb "black" title (floor_on ? "fp32 noise floor" : "")
unset multiplot

