/* being written */
typedef int ripple_wip_table;
