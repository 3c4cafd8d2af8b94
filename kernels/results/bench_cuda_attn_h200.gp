# Figure of bench_cuda_attn_h200.tsv (kernels/results/README.md, issue 14):
#   cd kernels/results && gnuplot bench_cuda_attn_h200.gp   -> bench_cuda_attn_h200.png
set terminal pngcairo size 1100,450 font ",10"
set output 'bench_cuda_attn_h200.png'
set datafile separator "\t"
set multiplot layout 1,2 title "Fused attention on an H200: ours vs torch SDPA in one program (TFLOP/s, median of 7)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "TFLOP/s"
set yrange [0:*]
set key top left opaque box
set xtics rotate by -20
set title "float32 in/out, 8 heads (target 50)"
set yrange [0:65]
plot "< awk -F'\t' '$1==\"float32\"{k=$2\"/\"$3; v[k,$5]=$9; if(!(k in s)){s[k]=1; o[++n]=k}} END{for(i=1;i<=n;i++){k=o[i]; print k\"\t\"v[k,\"ripple_tf32x3\"]\"\t\"v[k,\"ripple_fp32\"]\"\t\"v[k,\"ripple_tf32x3_chained\"]\"\t\"v[k,\"torch_sdpa_efficient_f32\"]}}' bench_cuda_attn_h200.tsv" \
     using 2:xtic(1) title "ripple tf32x3", '' using 3 title "ripple fp32", '' using 4 title "tf32x3 chained (inexact)", '' using 5 title "torch efficient f32"
set title "bf16 in/out, 24 heads"
set yrange [0:*]
plot "< awk -F'\t' '$1==\"bf16\"{k=$2\"/\"$3; v[k,$5]=$9; if(!(k in s)){s[k]=1; o[++n]=k}} END{for(i=1;i<=n;i++){k=o[i]; print k\"\t\"v[k,\"ripple_bf16_w4_bn128\"]\"\t\"v[k,\"torch_sdpa_cudnn\"]\"\t\"v[k,\"torch_sdpa_flash\"]}}' bench_cuda_attn_h200.tsv" \
     using 2:xtic(1) title "ripple bf16", '' using 3 title "torch cuDNN", '' using 4 title "torch FA2"
unset multiplot
