# ripple bench --reuse: reads only bench_reuse_gen_c1s0.tsv
set terminal pngcairo size 900,600 noenhanced
set output 'bench_reuse_gen_c1s0.png'
set datafile separator '\t'
set datafile commentschars '#'
set key top left
set grid
set xlabel 's_score (score savings, method.md section 2)'
set ylabel 'speedup over the dense CPU path (same run)'
set title 'Fused reuse kernel vs dense attention, real captures'
set arrow from graph 0, first 1.3 to graph 1, first 1.3 nohead dt 3
plot 'bench_reuse_gen_c1s0.tsv' using (column('s_score')):(column('speedup')) with points pt 7 title 'measured speedup (median ratio)', \
     '' using (column('s_score')):(column('bound')) with points pt 6 title 'work bound 1/(1 - s_attn - rows_reused/2)', \
     '' using (column('s_score')):(column('kernel_bound')) with points pt 4 title 'this kernel''s counted work 1/work', \
     '' using (column('s_score')):(0.75 * column('bound')) with points pt 1 title '0.75 x work bound'
