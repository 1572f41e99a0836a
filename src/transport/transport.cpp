#include "transport/transport.h"

#include "transport/internal.h"

namespace zc::transport {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::dmabuf: return "dmabuf";
    case Kind::shm: return "shm";
    case Kind::socket: return "socket";
  }
  return "?";
}

Result<std::unique_ptr<Transport>> create(Kind kind, const Connection& conn, const RingConfig& config,
                                          stats::FrameLedger* ledger) {
  switch (kind) {
    case Kind::dmabuf: return create_dmabuf_transport(conn, config);
    case Kind::shm: return create_shm_transport(conn, config);
    case Kind::socket: return create_socket_transport(conn, config, ledger);
  }
  return Error{EINVAL, "unknown transport"};
}

}  // namespace zc::transport
