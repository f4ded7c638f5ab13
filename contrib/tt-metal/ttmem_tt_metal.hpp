// ttmem_tt_metal.hpp — the entry points TT-Metal's patched sources call to report to ttmem.
//
// Declared here so that the patch (tt-metal.patch) adds one include and one call per hook
// point; defined in ttmem_tt_metal.cpp, which is compiled into libtt_metal and links
// libttmem. Every function is cheap when tracking is off (libttmem's inline gate: one load
// and one branch) and never throws. docs/TT-METAL.md says what each case becomes in ttmem.
#ifndef TTMEM_TT_METAL_HPP
#define TTMEM_TT_METAL_HPP

namespace tt::tt_metal
{
class Buffer;
}

namespace ttmem_tt
{

// From Buffer::allocate_impl(), after allocation_status_ becomes ALLOCATED (where
// GraphTracker::track_allocate is called). hooked is the buffer's hooked_allocation_ (graph
// capture without dispatch: no memory, nothing reported). A buffer on a MeshDevice (the
// MeshBuffer's backing buffer) is reported once per device of the mesh. Also attaches the
// calling thread (attach_thread()).
void buffer_allocated(const tt::tt_metal::Buffer *buffer, bool hooked);
// From Buffer::deallocate_impl(), inside its `device_->is_initialized() && size_ != 0` block,
// before the allocator frees (where GraphTracker::track_deallocate is called).
void buffer_deallocated(const tt::tt_metal::Buffer *buffer, bool hooked);
// From the address-taking Buffer::create() (owns_data = false): a MeshBuffer's per-device
// buffer or a Buffer::view() alias, reported as a view (TTM_FLAG_VIEW, no bytes).
void view_created(const tt::tt_metal::Buffer *buffer);
// From Buffer::~Buffer() when the buffer does not own its data: the view ends. Uses what
// view_created() remembered, never the buffer's device (which may be closed by then).
void view_destroyed(const tt::tt_metal::Buffer *buffer);
// Pushes ttmem's background graph processor (op names as scopes, circular buffers) on the
// calling thread once; GraphTracker's processors are thread_local, so every thread that
// dispatches TT-NN operations calls this before its first op (buffer_allocated() does it for
// every thread that allocates). No-op when tracking is off.
void attach_thread();

} // namespace ttmem_tt

#endif // TTMEM_TT_METAL_HPP
