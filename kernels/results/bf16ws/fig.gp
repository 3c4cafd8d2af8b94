# Figure of run3/bench_cuda_attn.tsv (kernels/results/README.md, issue 14):
#   cd kernels/results/bf16ws && gnuplot fig.gp   -> fig.png
# bf16 in/out, 24 heads, in one program on an H200: our default (ripple_bf16:
# FA3's shape, ws3 at head dim 64, ws_pp_bn176 at 128), the mma.sync tiling
# it replaced (w4_bn64_m2), torch's SDPA with the cuDNN backend (the target)
# and with FLASH_ATTENTION (FA2).
set terminal pngcairo size 900,540 font ",10"
set output 'fig.png'
set datafile separator "\t"
set title "bf16 attention on an H200, 24 heads, seq / head dim\n(TFLOP/s = 4 seq^2 dim heads / median of 7 interleaved; run 3, commit ab8534d)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "TFLOP/s"
set key outside bottom center horizontal maxrows 2 box
set yrange [0:800]
tsv = "run3/bench_cuda_attn.tsv"
col(dt, names) = sprintf("< awk -F'\\t' -v dt=%s -v names='%s' 'BEGIN{n=split(names,w,\" \")} $1==dt{k=$2\"/\"$3; v[k,$5]=$9; if(!(k in s)){s[k]=1; o[++m]=k}} END{for(i=1;i<=m;i++){k=o[i]; line=k; for(j=1;j<=n;j++) line=line\"\\t\"v[k,w[j]]; print line}}' %s", dt, names, tsv)
plot col("bf16", "ripple_bf16 ripple_bf16_w4_bn64_m2 torch_sdpa_cudnn torch_sdpa_flash") \
       using 2:xtic(1) title "ripple bf16 (default: FA3's shape, ws3 / ws\\_pp\\_bn176)", \
       '' using 3 title "ripple bf16 mma.sync (w4\\_bn64\\_m2, before)", \
       '' using 4 title "torch cuDNN (the target)", '' using 5 title "torch FA2", \
       '' using ($0-0.3):($2+15):(sprintf("%.0f", $2)) with labels notitle, \
       '' using ($0+0.1):($4+15):(sprintf("%.0f", $4)) with labels notitle
