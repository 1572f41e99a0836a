// ResourceList: wl_resources waiting for an event, kept with no allocation.
//
// Every wl_surface.commit moves the surface's pending frame callbacks
// (wl_callback) and presentation feedbacks (wp_presentation_feedback) on to
// the committed state, then to the frame in flight. Kept in std::vectors
// that costs heap work per frame. Weston and wlroots do what libwayland
// makes room for instead: each wl_resource carries a spare list link for the
// compositor's use (wl_resource_get_link), so a list of resources is an
// intrusive doubly linked list whose head lives in the surface; appending,
// and moving a whole list to another in O(1), allocate nothing.
//
// The rules: a resource goes into a list as soon as it is created (its link
// is not initialised before), and it must leave the list when it is
// destroyed (the client destroys it, or disconnects). So it is created with
// ResourceList::unlink_on_destroy as its destructor, as Weston's
// destroy_frame_callback does.
#pragma once

#include <wayland-server-core.h>

namespace zc::server {

class ResourceList {
 public:
  ResourceList() { wl_list_init(&head_); }
  // Forgets the entries; the resources themselves stay alive.
  ~ResourceList() { clear(); }
  // The head's neighbours point at its address: it never moves.
  ResourceList(const ResourceList&) = delete;
  ResourceList& operator=(const ResourceList&) = delete;

  // The destructor (wl_resource_set_implementation's last argument) of every
  // resource that goes into a list.
  static void unlink_on_destroy(wl_resource* r) { unlink(r); }

  // Appends `r`, a resource just created: libwayland leaves its link
  // uninitialised, so it must go into a list at once, and only one.
  void push_back(wl_resource* r) { wl_list_insert(head_.prev, wl_resource_get_link(r)); }
  // Moves every entry of `from` to the end of this list (O(1)).
  void take_all(ResourceList& from) {
    if (wl_list_empty(&from.head_)) return;
    wl_list_insert_list(head_.prev, &from.head_);
    wl_list_init(&from.head_);
  }
  bool empty() const { return wl_list_empty(&head_) != 0; }
  int size() const { return wl_list_length(&head_); }

  // Empties the list, calling fn(resource) for each entry in order; fn may
  // destroy the resource (send `done` and destroy a callback, say).
  template <typename Fn>
  void drain(Fn&& fn) {
    wl_resource* r;
    wl_resource* next;
    wl_resource_for_each_safe(r, next, &head_) {
      unlink(r);
      fn(r);
    }
  }
  // Calls fn(resource) for each entry, leaving the list as it is; fn must
  // not destroy the resource (send an event to it, say).
  template <typename Fn>
  void for_each(Fn&& fn) const {
    wl_resource* r;
    wl_list* head = const_cast<wl_list*>(&head_);
    wl_resource_for_each(r, head) fn(r);
  }
  void clear() {
    drain([](wl_resource*) {});
  }

 private:
  // Removed and re-initialised (pointing at itself), so that removing it
  // again, from the destructor, is harmless.
  static void unlink(wl_resource* r) {
    wl_list* l = wl_resource_get_link(r);
    wl_list_remove(l);
    wl_list_init(l);
  }
  wl_list head_;
};

}  // namespace zc::server
