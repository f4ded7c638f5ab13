// tt_metal_driver.cpp — runs contrib/tt-metal/ttmem_tt_metal.cpp the way the patched TT-Metal
// calls it, against the real libttmem (tests/contrib/tt_metal.sh runs it under `ttmem record`
// and checks the report).
//
// It defines the TT-Metal members of tt_metal_decls.hpp (accessors over the test storage, and a
// GraphTracker whose processor stack is thread_local like TT-Metal's) and replays, in order:
// a DRAM buffer allocated and freed; an L1 buffer allocated inside op "ttnn::matmul" and leaked;
// a MeshBuffer on a 2-device mesh (backing buffer + 2 per-device views, all ended); a circular
// buffer on 4 cores allocated twice (a program dispatched twice) and released; a hooked
// allocation (graph capture, no memory); and, on a second thread, an L1 buffer allocated inside
// op "ttnn::add" and leaked. What the report must say is in tt_metal.sh.
#include <tt_metal_decls.hpp>

#include "ttmem_tt_metal.hpp"

#include <ttmem/ttmem.h>

#include <cstdio>
#include <thread>

using namespace tt::tt_metal;

// ---- the transcribed members, over the test storage ----
uint32_t CoreRangeSet::num_cores() const
{
    return test_cores;
}
ChipId distributed::MeshDevice::id() const
{
    return test_id;
}
std::vector<IDevice *> distributed::MeshDevice::get_devices() const
{
    return test_devices;
}
IDevice *Buffer::device() const
{
    return test_device;
}
DeviceAddr Buffer::size() const
{
    return test_size;
}
uint32_t Buffer::address() const
{
    return test_address;
}
BufferType Buffer::buffer_type() const
{
    return test_type;
}
size_t Buffer::unique_id() const
{
    return test_unique_id;
}

namespace
{
thread_local std::vector<std::shared_ptr<IGraphProcessor>> t_processors;
}
GraphTracker &GraphTracker::instance()
{
    static GraphTracker tracker;
    return tracker;
}
void GraphTracker::push_processor(const std::shared_ptr<IGraphProcessor> &p)
{
    t_processors.push_back(p);
}
const std::vector<std::shared_ptr<IGraphProcessor>> &GraphTracker::get_processors() const
{
    return t_processors;
}

namespace
{

class Chip final : public IDevice
{
  public:
    explicit Chip(ChipId id) : id_(id)
    {
    }
    ChipId id() const override
    {
        return id_;
    }

  private:
    ChipId id_;
};

Buffer make(IDevice *dev, BufferType type, uint32_t addr, DeviceAddr size, size_t uid)
{
    Buffer b;
    b.test_device = dev;
    b.test_type = type;
    b.test_address = addr;
    b.test_size = size;
    b.test_unique_id = uid;
    return b;
}

// What GraphTracker::track_function_start/end and track_*_cb do: every processor of the
// calling thread, in order.
void op_start(const char *name)
{
    for (auto &p : GraphTracker::instance().get_processors())
        p->track_function_start(name, {});
}
void op_end()
{
    for (auto &p : GraphTracker::instance().get_processors())
        p->track_function_end(std::any());
}

int fail(const char *what)
{
    std::fprintf(stderr, "tt_metal_driver: %s\n", what);
    return 1;
}

} // namespace

int main()
{
    if (!ttm_client_enabled())
        return fail("tracking is off (run under ttmem record)");
    Chip chip0(0), chip1(1);
    distributed::MeshDevice mesh;
    mesh.test_id = 7;
    mesh.test_devices = {&chip0, &chip1};

    Buffer a = make(&chip0, BufferType::DRAM, 0x100000, 4096, 1);
    ttmem_tt::buffer_allocated(&a, false); // attaches this thread
    if (GraphTracker::instance().get_processors().size() != 1)
        return fail("the allocation hook did not attach the thread's processor");
    ttmem_tt::attach_thread(); // idempotent
    if (GraphTracker::instance().get_processors().size() != 1)
        return fail("attach_thread pushed a second processor");
    if (GraphTracker::instance().get_processors()[0]->is_capture_processor())
        return fail("the processor would turn graph capture on");

    op_start("ttnn::matmul");
    Buffer leaked = make(&chip0, BufferType::L1, 0x20000, 2048, 2);
    ttmem_tt::buffer_allocated(&leaked, false);
    op_end();
    ttmem_tt::buffer_deallocated(&a, false);

    Buffer backing = make(&mesh, BufferType::DRAM, 0x400000, 8192, 3);
    Buffer per0 = make(&chip0, BufferType::DRAM, 0x400000, 8192, 4);
    Buffer per1 = make(&chip1, BufferType::DRAM, 0x400000, 8192, 5);
    ttmem_tt::buffer_allocated(&backing, false);
    ttmem_tt::view_created(&per0);
    ttmem_tt::view_created(&per1);
    ttmem_tt::view_destroyed(&per0);
    ttmem_tt::view_destroyed(&per1);
    ttmem_tt::buffer_deallocated(&backing, false);

    CoreRangeSet cores;
    cores.test_cores = 4;
    for (int dispatch = 0; dispatch < 2; dispatch++)
        for (auto &p : GraphTracker::instance().get_processors())
            p->track_allocate_cb(cores, 0x30000, 1024, false, &chip0);
    for (auto &p : GraphTracker::instance().get_processors())
        p->track_allocate_cb(cores, 0x40000, 1024, true, &chip0); // in a reported Buffer
    for (auto &p : GraphTracker::instance().get_processors())
        p->track_deallocate_cb(&chip0);

    Buffer hooked = make(&chip1, BufferType::DRAM, 0, 65536, 8);
    ttmem_tt::buffer_allocated(&hooked, true);
    ttmem_tt::buffer_deallocated(&hooked, true);

    bool other_ok = false;
    Buffer other = make(&chip1, BufferType::L1, 0x50000, 512, 6);
    std::thread worker([&] {
        ttmem_tt::attach_thread(); // a dispatching thread has its own processor stack
        other_ok = GraphTracker::instance().get_processors().size() == 1;
        op_start("ttnn::add");
        ttmem_tt::buffer_allocated(&other, false);
        op_end();
        op_end(); // unbalanced: must not pop what it did not push
    });
    worker.join();
    if (!other_ok)
        return fail("the second thread did not get its own processor");

    if (ttm_client_flush(10000) != 0)
        return fail("the daemon did not take the events");
    std::printf("tt_metal_driver: done\n");
    return 0;
}
