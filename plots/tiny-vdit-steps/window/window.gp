# Figure of window.tsv; written by ripple (8427a12-dirty). Render: gnuplot window.gp
# (set fmt to "svg" or "pdf" with: gnuplot -e 'fmt="svg"' window.gp)
if (!exists("fmt")) fmt = "png"
if (fmt eq "png") set terminal pngcairo size 800,500 font "DejaVu Sans,11" noenhanced
if (fmt eq "svg") set terminal svg size 800,500 font "DejaVu Sans,11" noenhanced
if (fmt eq "pdf") set terminal pdfcairo size 8.33in,5.21in font "DejaVu Sans,9" noenhanced
set output "window.".fmt
set datafile separator "\t"
set datafile commentschars "#"
set key outside right top box
set grid lc rgb "#dddddd"
set border lw 1.2

set datafile columnheaders
stats "window.tsv" using 11 nooutput
mse_lo = STATS_min; mse_hi = STATS_max
stats "window.tsv" using (strcol(15) eq "nan" ? 0 : column(15)) nooutput
floor = STATS_mean
floor_text = floor > 0 ? sprintf("%.1e", floor) : "not computed"
set title sprintf("Window size (paper Fig. 11): the threshold of window 2 at every size\nmean over captured steps and layers; noise floor (fp32 vs fp64) MSE %s", floor_text)
set xlabel "window size w (tokens)" offset 0,0.6
set bmargin 6.5
set my2tics 10
set ylabel "savings (%)"
set y2label "output MSE vs exact attention (log)"
set yrange [0:100]
set ytics nomirror
set logscale y2
set y2range [mse_lo / 2 : mse_hi * 2]
set y2tics
set format y2 "%.1e"
set xrange [1.5:8.5]
set xtics ("2" 2, "3" 3, "4" 4, "6" 6, "8" 8)
set key below center horizontal box
plot "window.tsv" using 4:(100*$6) smooth unique with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "score savings s_score (left)", \
     "" using 4:(100*$7) smooth unique with linespoints lw 2 pt 5 lc rgb "#2ca02c" title "attention savings s_attn (left)", \
     "" using 4:(100*$8) smooth unique with linespoints lw 1.5 dt 2 pt 4 lc rgb "#17becf" title "query rows fully reused (left)", \
     "" using 4:11 smooth unique axes x1y2 with linespoints lw 2 pt 9 lc rgb "#d62728" title "MSE (right, log)"

