// ResourceRef: a non-owning pointer to a wl_resource that becomes null when
// the resource is destroyed (client request, disconnect, or compositor).
// Wayland objects die in any order when a client goes away; holding raw
// wl_resource pointers across events is the classic compositor use-after-free.
#pragma once

#include <wayland-server-core.h>

#include <utility>

namespace zc::server {

class ResourceRef {
 public:
  ResourceRef() { init(); }
  explicit ResourceRef(wl_resource* r) : ResourceRef() { reset(r); }
  ResourceRef(const ResourceRef&) = delete;
  ResourceRef& operator=(const ResourceRef&) = delete;
  ResourceRef(ResourceRef&& o) noexcept : ResourceRef() { reset(o.take()); }
  ResourceRef& operator=(ResourceRef&& o) noexcept {
    if (this != &o) reset(o.take());
    return *this;
  }
  ~ResourceRef() { reset(); }

  wl_resource* get() const { return res_; }
  explicit operator bool() const { return res_ != nullptr; }

  void reset(wl_resource* r = nullptr) {
    if (res_ != nullptr) {
      wl_list_remove(&link_.listener.link);
      wl_list_init(&link_.listener.link);
    }
    res_ = r;
    if (r != nullptr) wl_resource_add_destroy_listener(r, &link_.listener);
  }
  wl_resource* take() {
    wl_resource* r = res_;
    reset();
    return r;
  }

 private:
  // Standard-layout holder so wl_container_of is well defined.
  struct Link {
    wl_listener listener;
    ResourceRef* self;
  };
  void init() {
    link_.self = this;
    link_.listener.notify = &on_destroy;
    wl_list_init(&link_.listener.link);
  }
  static void on_destroy(wl_listener* l, void*) {
    Link* link = wl_container_of(l, link, listener);
    wl_list_remove(&l->link);
    wl_list_init(&l->link);
    link->self->res_ = nullptr;
  }
  Link link_{};
  wl_resource* res_ = nullptr;
};

}  // namespace zc::server
