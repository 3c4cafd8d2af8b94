# Attention mass per head (reads only head_mass.tsv). Render: cd data/results && gnuplot head_mass.gp
set terminal pngcairo size 1000,520 font "DejaVu Sans,12"
set output "head_mass.png"
set title "tiny-vdit: where each head's attention mass goes (avg over video queries, 10 classes, steps 10/25/40)"
set ylabel "fraction of attention mass"
set yrange [0:0.8]
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top right
set xtics rotate by -45 font ",10"
set datafile separator "\t"
plot "head_mass.tsv" using 3:xtic(sprintf("L%sH%s %s", strcol(1), strcol(2), strcol(7) eq "mixed" ? "" : strcol(7))) every ::1 title "own frame", \
     "" using 5 every ::1 title "3x3 around own position, other frames", \
     "" using 4 every ::1 title "same position, other frames"
