/* being written */
typedef int ripple_wip_backend_nocuda;
