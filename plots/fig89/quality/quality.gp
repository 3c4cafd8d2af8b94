# Figure of quality.tsv; written by ripple (fd80c80). Render: gnuplot quality.gp
# (set fmt to "svg" or "pdf" with: gnuplot -e 'fmt="svg"' quality.gp)
if (!exists("fmt")) fmt = "png"
if (!exists("out")) out = "quality.".fmt
if (fmt eq "png") set terminal pngcairo size 800,640 font "DejaVu Sans,11" noenhanced
if (fmt eq "svg") set terminal svg size 800,640 font "DejaVu Sans,11" noenhanced
if (fmt eq "pdf") set terminal pdfcairo size 8.33in,6.67in font "DejaVu Sans,9" noenhanced
set output out
set datafile separator "\t"
set datafile commentschars "#"
set key outside right top box
set grid lc rgb "#dddddd"
set border lw 1.2

set datafile columnheaders
set multiplot layout 2,1 title "End-to-end quality against the dense clip (paper Tables 2-4), tiny-vdit, 2 prompt(s), 50 steps\nmeans over prompts per setting"
set xlabel "attention savings s_attn (%)"
set xrange [0:*]
set key outside right top vertical
set lmargin 10
set rmargin 22
set ylabel "PSNR (dB)"
plot "quality-means.tsv" using (strcol("method") eq "reuse" && column("psnr") < 1e300 ? 100*column("s_attn") : NaN):(column("psnr")) smooth unique with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "reuse", \
  "quality-means.tsv" using (strcol("method") eq "reuse-ramp" && column("psnr") < 1e300 ? 100*column("s_attn") : NaN):(column("psnr")) smooth unique with linespoints lw 2 pt 7 lc rgb "#d62728" title "reuse-ramp", \
  "quality-means.tsv" using (strcol("method") eq "reuse-ramp-t" && column("psnr") < 1e300 ? 100*column("s_attn") : NaN):(column("psnr")) smooth unique with linespoints lw 2 pt 7 lc rgb "#2ca02c" title "reuse-ramp-t"
unset key
set ylabel "SSIM"
plot "quality-means.tsv" using (strcol("method") eq "reuse" && column("psnr") < 1e300 ? 100*column("s_attn") : NaN):(column("ssim")) smooth unique with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "reuse", \
  "quality-means.tsv" using (strcol("method") eq "reuse-ramp" && column("psnr") < 1e300 ? 100*column("s_attn") : NaN):(column("ssim")) smooth unique with linespoints lw 2 pt 7 lc rgb "#d62728" title "reuse-ramp", \
  "quality-means.tsv" using (strcol("method") eq "reuse-ramp-t" && column("psnr") < 1e300 ? 100*column("s_attn") : NaN):(column("ssim")) smooth unique with linespoints lw 2 pt 7 lc rgb "#2ca02c" title "reuse-ramp-t"
unset multiplot

