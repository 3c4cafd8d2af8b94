/* being written */
typedef int ripple_wip_attn_ref;
