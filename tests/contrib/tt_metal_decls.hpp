// tt_metal_decls.hpp — TRANSCRIBED FROM TT-METAL'S HEADERS: exactly the TT-Metal members that
// contrib/tt-metal/ttmem_tt_metal.cpp uses, so that ttmem's tests compile it without TT-Metal.
//
// Sources (tenstorrent/tt-metal): tt_metal/api/tt-metalium/buffer.hpp and buffer_types.hpp
// (Buffer, BufferType, DeviceAddr), device.hpp (IDevice::id, ChipId), mesh_device.hpp
// (MeshDevice::get_devices), core_coord.hpp (CoreRangeSet::num_cores), graph_tracking.hpp
// (TrackedArgument, IGraphProcessor, GraphTracker). Signatures are TT-Metal's; the members the
// contrib does not use are left out. The blocks marked "test storage" are not TT-Metal's: they
// are the data the test driver (tt_metal_driver.cpp) gives its stand-in objects, since TT-Metal's
// own data members are private and not part of what the contrib relies on.
#ifndef TTMEM_TESTS_TT_METAL_DECLS_HPP
#define TTMEM_TESTS_TT_METAL_DECLS_HPP

#include <any>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tt::tt_metal
{

// core_coord.hpp (in tt::tt_metal, with a deprecated global alias, in current trees)
class CoreRangeSet
{
  public:
    uint32_t num_cores() const;
    uint32_t test_cores = 0; // test storage
};

using ChipId = int;          // umd: using ChipId = int (older trees: chip_id_t)
using DeviceAddr = uint64_t; // buffer_types.hpp / hal_types.hpp

// buffer_types.hpp
enum class BufferType {
    DRAM,
    L1,
    SYSTEM_MEMORY,
    L1_SMALL,
    TRACE,
};

// device.hpp: the abstract device (a MeshDevice is one too)
class IDevice
{
  public:
    virtual ~IDevice() = default;
    virtual ChipId id() const = 0;
};

namespace distributed
{
// mesh_device.hpp
class MeshDevice : public IDevice
{
  public:
    ChipId id() const override;
    // Returns the devices in the mesh in row-major order.
    std::vector<IDevice *> get_devices() const;
    // test storage
    ChipId test_id = 0;
    std::vector<IDevice *> test_devices;
};
} // namespace distributed

// buffer.hpp
class Buffer final : public std::enable_shared_from_this<Buffer>
{
  public:
    IDevice *device() const;
    DeviceAddr size() const;
    // Returns address of buffer in the first bank
    uint32_t address() const;
    BufferType buffer_type() const;
    size_t unique_id() const;
    // test storage
    IDevice *test_device = nullptr;
    DeviceAddr test_size = 0;
    uint32_t test_address = 0;
    BufferType test_type = BufferType::DRAM;
    size_t test_unique_id = 0;
};

// graph_tracking.hpp
struct TrackedArgument {
    std::any value;
    std::string (*to_string_fn)(const std::any &);
};

class IGraphProcessor
{
  public:
    enum class RunMode { NORMAL, NO_DISPATCH };
    IGraphProcessor() = default;
    virtual bool is_capture_processor() const
    {
        return true;
    }
    virtual void track_allocate(const tt::tt_metal::Buffer *buffer)
    {
    }
    virtual void track_deallocate(tt::tt_metal::Buffer *buffer)
    {
    }
    virtual void track_allocate_cb(const CoreRangeSet &core_range_set, uint64_t addr, uint64_t size,
                                   bool is_globally_allocated, const IDevice *device)
    {
    }
    virtual void track_deallocate_cb(const IDevice *device)
    {
    }
    virtual void track_function_start(std::string_view function_name,
                                      std::span<TrackedArgument> input_parameters)
    {
    }
    virtual void track_function_end()
    {
    }
    virtual void track_function_end(const std::any &output_tensors)
    {
    }
    virtual void begin_capture(RunMode mode)
    {
    }
    virtual ~IGraphProcessor() = default;
};

class GraphTracker
{
  public:
    static GraphTracker &instance();
    void push_processor(const std::shared_ptr<IGraphProcessor> &processor);
    const std::vector<std::shared_ptr<IGraphProcessor>> &get_processors() const;
};

} // namespace tt::tt_metal

#endif // TTMEM_TESTS_TT_METAL_DECLS_HPP
