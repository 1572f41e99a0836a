// The three transports' constructors, for transport.cpp's create().
#pragma once

#include "transport/transport.h"

namespace zc::transport {

Result<std::unique_ptr<Transport>> create_dmabuf_transport(const Connection& conn, const RingConfig& config);
Result<std::unique_ptr<Transport>> create_shm_transport(const Connection& conn, const RingConfig& config);
Result<std::unique_ptr<Transport>> create_socket_transport(const Connection& conn, const RingConfig& config,
                                                           stats::FrameLedger* ledger);

}  // namespace zc::transport
