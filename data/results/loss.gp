# Loss curve of tiny-vdit (reads only loss.tsv). Render: cd data/results && gnuplot loss.gp
set terminal pngcairo size 900,560 font "DejaVu Sans,13"
set output "loss.png"
set title "tiny-vdit rectified-flow training (moving Fashion-MNIST, H100, 9372 steps)"
set xlabel "training step (batch 64 clips)"
set ylabel "flow-matching MSE (v-prediction)"
set logscale y
set yrange [0.05:3]
set grid xtics ytics mytics
set key top right
set datafile separator "\t"
plot "loss.tsv" using 1:2 every ::1 with linespoints lw 2 pt 7 ps 0.6 title "train (online model, mean since last row)", \
     "" using 1:3 every ::1 with linespoints lw 2 pt 5 ps 0.6 title "held-out (EMA, test-split clips)", \
     "" using 1:4 every ::1 with lines lw 1.5 dt 2 title "train-split fixed clips (EMA)"
