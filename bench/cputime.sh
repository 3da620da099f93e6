# cputime.sh: CPU time used by a process and its descendants, for the bench
# scripts. Per request or query it is the measure least moved by other work
# on a shared machine. Source it; do not run it.

# Microseconds per clock tick.
TICK_US=$((1000000 / $(getconf CLK_TCK)))

descendants() { # pid
	local c
	for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done
}

# cpu_ticks PID: user + system clock ticks used so far by PID and its
# descendants that still run (nginx's workers, NSD's server processes).
cpu_ticks() { # pid
	local t=0 p
	for p in "$1" $(descendants "$1"); do
		# utime and stime, counted after the ")" that ends the command name
		# (NSD's have spaces in them).
		t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
	done
	echo "$t"
}
