// ttmem_tt_metal.cpp — TT-Metal's buffers, circular buffers and TT-NN op names reported to
// ttmem through libttmem (include/ttmem/ttmem.h).
//
// Built into libtt_metal by tt-metal.patch. It reads only TT-Metal's public members (the
// list is tests/contrib/tt_metal_decls.hpp, which transcribes them so that this file is
// compiled and run in ttmem's own tests without TT-Metal). What each case becomes in ttmem:
// docs/TT-METAL.md.
#include "ttmem_tt_metal.hpp"

#ifdef TTMEM_TT_METAL_DECLS
#include TTMEM_TT_METAL_DECLS // ttmem's tests: the transcribed declarations
#else
#include <tt-metalium/buffer.hpp>
#include <tt-metalium/core_coord.hpp>
#include <tt-metalium/device.hpp>
#include <tt-metalium/graph_tracking.hpp>
#include <tt-metalium/mesh_device.hpp>
#endif

#include <ttmem/ttmem.h>

#include <any>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ttmem_tt
{
namespace
{

using namespace tt::tt_metal;

// TT-Metal's BufferType (DRAM 0, L1 1, SYSTEM_MEMORY 2, L1_SMALL 3, TRACE 4) is ttmem's
// memtype numbering; anything else is reported as what it is not known to be.
ttm_memtype memtype_of(BufferType type)
{
    auto v = static_cast<unsigned>(type);
    return v <= TTM_MEM_TRACE ? static_cast<ttm_memtype>(v) : TTM_MEM_ANY;
}

uint16_t device_id(const IDevice *device)
{
    return static_cast<uint16_t>(device->id());
}

// The devices an event lands on: a MeshDevice stands for each of its devices (its lock-step
// allocator gives the same device-local range on every one), any other device for itself.
std::vector<uint16_t> devices_of(const IDevice *device)
{
    std::vector<uint16_t> ids;
    if (auto mesh = dynamic_cast<const distributed::MeshDevice *>(device)) {
        for (IDevice *d : mesh->get_devices())
            ids.push_back(device_id(d));
    } else {
        ids.push_back(device_id(device));
    }
    return ids;
}

// What a view was when it was created, so that its end needs no device (views outlive
// closed devices: a MeshBuffer's per-device buffers are dropped after the mesh closes).
struct ViewRecord {
    uint16_t device;
    ttm_memtype memtype;
    uint64_t addr, size, obj;
};

// A locally allocated circular buffer live on a device: TT-Metal's track_deallocate_cb
// carries only the device, so every CB of that device ends there.
struct CbRecord {
    uint16_t device;
    uint64_t addr, size;
};

// The live views and CBs. Made once and never destroyed: TT-Metal's buffers end during static
// destruction too (a Python interpreter's teardown, a static MeshDevice), after any global of
// this file would be gone.
struct Live {
    std::mutex mutex; // buffers and programs end on any thread
    std::unordered_map<const Buffer *, ViewRecord> views;
    std::vector<CbRecord> cbs;
};
Live &live_state()
{
    static Live *live = new Live();
    return *live;
}

// One per attached thread. It never turns graph capture on (is_capture_processor() false).
class ScopeProcessor final : public IGraphProcessor
{
  public:
    bool is_capture_processor() const override
    {
        return false;
    }

    void track_function_start(std::string_view name, std::span<TrackedArgument>) override
    {
        // libttmem wants a terminated name; an op name is short.
        if (ttm_scope_push(std::string(name).c_str()) == 0)
            depth_++;
        else
            refused_++; // tracking off or 64 deep: its end must not pop an outer name
    }
    void track_function_end() override
    {
        end();
    }
    void track_function_end(const std::any &) override
    {
        end();
    }

    void track_allocate_cb(const tt::tt_metal::CoreRangeSet &cores, uint64_t addr, uint64_t size,
                           bool is_globally_allocated, const IDevice *device) override
    {
        // A globally allocated CB lives in a Buffer already reported by the allocation hook.
        if (is_globally_allocated || !ttm_client_enabled())
            return;
        uint64_t bytes = size * cores.num_cores();
        Live &st = live_state();
        std::lock_guard<std::mutex> lock(st.mutex);
        for (uint16_t dev : devices_of(device)) {
            bool live = false; // a program dispatched again allocates its CBs again
            for (const CbRecord &cb : st.cbs)
                live = live || (cb.device == dev && cb.addr == addr && cb.size == bytes);
            if (live)
                continue;
            st.cbs.push_back({dev, addr, bytes});
            ttm_buffer_alloc(dev, TTM_MEM_CB, addr, bytes, 0, 0);
        }
    }

    void track_deallocate_cb(const IDevice *device) override
    {
        if (!ttm_client_enabled())
            return;
        Live &st = live_state();
        std::lock_guard<std::mutex> lock(st.mutex);
        for (uint16_t dev : devices_of(device)) {
            for (size_t i = 0; i < st.cbs.size();) {
                if (st.cbs[i].device != dev) {
                    i++;
                    continue;
                }
                ttm_buffer_free(dev, TTM_MEM_CB, st.cbs[i].addr, st.cbs[i].size, 0, 0);
                st.cbs[i] = st.cbs.back();
                st.cbs.pop_back();
            }
        }
    }

  private:
    void end()
    {
        if (refused_ > 0)
            refused_--;
        else if (depth_ > 0 && ttm_scope_pop() == 0)
            depth_--;
    }
    unsigned depth_ = 0, refused_ = 0;
};

thread_local bool t_attached = false;

} // namespace

void attach_thread()
{
    if (t_attached || !ttm_client_enabled())
        return;
    t_attached = true;
    GraphTracker::instance().push_processor(std::make_shared<ScopeProcessor>());
}

void buffer_allocated(const Buffer *buffer, bool hooked)
{
    if (hooked || !ttm_client_enabled())
        return;
    attach_thread();
    ttm_memtype type = memtype_of(buffer->buffer_type());
    for (uint16_t dev : devices_of(buffer->device()))
        ttm_buffer_alloc(dev, type, buffer->address(), buffer->size(), buffer->unique_id(), 0);
}

void buffer_deallocated(const Buffer *buffer, bool hooked)
{
    if (hooked || !ttm_client_enabled())
        return;
    ttm_memtype type = memtype_of(buffer->buffer_type());
    for (uint16_t dev : devices_of(buffer->device()))
        ttm_buffer_free(dev, type, buffer->address(), buffer->size(), buffer->unique_id(), 0);
}

void view_created(const Buffer *buffer)
{
    if (!ttm_client_enabled())
        return;
    // A view on a MeshDevice (a view of a backing buffer) is not fanned out: the per-device
    // buffers are the views that land on each device.
    ViewRecord v{device_id(buffer->device()), memtype_of(buffer->buffer_type()), buffer->address(),
                 buffer->size(), buffer->unique_id()};
    {
        Live &st = live_state();
        std::lock_guard<std::mutex> lock(st.mutex);
        st.views[buffer] = v;
    }
    ttm_buffer_alloc(v.device, v.memtype, v.addr, v.size, v.obj, TTM_FLAG_VIEW);
}

void view_destroyed(const Buffer *buffer)
{
    if (!ttm_client_enabled())
        return;
    ViewRecord v;
    {
        Live &st = live_state();
        std::lock_guard<std::mutex> lock(st.mutex);
        auto it = st.views.find(buffer);
        if (it == st.views.end())
            return; // created before tracking was on
        v = it->second;
        st.views.erase(it);
    }
    ttm_buffer_free(v.device, v.memtype, v.addr, v.size, v.obj, TTM_FLAG_VIEW);
}

} // namespace ttmem_tt
