# Figure of run4/bench_cuda_attn.tsv (kernels/results/README.md, issue 14):
#   cd kernels/results/tf32x3 && gnuplot fig.gp   -> fig.png
# Left: float32 in/out, 8 heads: our default tf32x3 (the wgmma kernel,
# tiling wg2_bn32), the mma.sync tiling it replaced (w8_bn32), the FFMA
# kernel, torch's float32 SDPA (EFFICIENT_ATTENTION); the target, 50 TFLOP/s.
# Right: bf16 in/out, 24 heads: ours (w4_bn64_m2), torch cuDNN, torch FA2.
set terminal pngcairo size 1250,540 font ",10"
set output 'fig.png'
set datafile separator "\t"
set multiplot layout 1,2 title "Fused attention on an H200, in one program (TFLOP/s = 4 seq^2 dim heads / median of 7; run 4, commit bf65bfd)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "TFLOP/s"
set key outside bottom center horizontal maxrows 2 box
unset xlabel
tsv = "run4/bench_cuda_attn.tsv"
col(dt, names) = sprintf("< awk -F'\\t' -v dt=%s -v names='%s' 'BEGIN{n=split(names,w,\" \")} $1==dt{k=$2\"/\"$3; v[k,$5]=$9; if(!(k in s)){s[k]=1; o[++m]=k}} END{for(i=1;i<=m;i++){k=o[i]; line=k; for(j=1;j<=n;j++) line=line\"\\t\"v[k,w[j]]; print line}}' %s", dt, names, tsv)
set title "float32 in/out, 8 heads, seq / head dim (float32-accurate; target 50)"
set yrange [0:75]
plot col("float32", "ripple_tf32x3 ripple_tf32x3_w8_bn32 ripple_fp32 torch_sdpa_efficient_f32") \
       using 2:xtic(1) title "ripple tf32x3 (wgmma, wg2\\_bn32)", '' using 3 title "ripple tf32x3 mma.sync (w8\\_bn32, before)", \
       '' using 4 title "ripple fp32 (FFMA)", '' using 5 title "torch efficient f32", \
       50 with lines dt 2 lc rgb "black" title "target 50"
set title "bf16 in/out, 24 heads, seq / head dim"
set yrange [0:750]
plot col("bf16", "ripple_bf16_w4_bn64_m2 torch_sdpa_cudnn torch_sdpa_flash") \
       using 2:xtic(1) title "ripple bf16 (w4\\_bn64\\_m2)", '' using 3 title "torch cuDNN", '' using 4 title "torch FA2"
unset multiplot
