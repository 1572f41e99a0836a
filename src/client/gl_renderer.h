// The GL renderer: the GPU draws the numbered frame pattern into the ring's
// dma-bufs, and no CPU touches a pixel of them.
//
// How a client renders into a buffer it then hands to a compositor, as
// kmscube and Weston's simple-dmabuf-egl do:
//
//   1. EGL on the GBM device (EGL_KHR/MESA_platform_gbm): an EGLDisplay for
//      the DRM device the buffers live on, with no window system at all.
//   2. A GLES 2 context, made current without a surface
//      (EGL_KHR_surfaceless_context): it draws only into framebuffer objects.
//   3. Each buffer of the ring, once: its dma-buf fd, offset, stride, fourcc
//      (and modifier) become an EGLImage (EGL_EXT_image_dma_buf_import); the
//      image becomes the storage of a GL renderbuffer
//      (glEGLImageTargetRenderbufferStorageOES, GL_OES_EGL_image), attached
//      to a framebuffer object. Drawing into that FBO writes the dma-buf.
//   4. Each frame: bind the buffer's FBO, draw, glFinish (the GPU has
//      written every pixel before the compositor is told the frame exists).
//
// Row 0 of a renderbuffer made from a dma-buf is its first row in memory,
// and gl_FragCoord.y counts rows from there: the pattern is drawn with
// pattern row y at gl_FragCoord.y = y + 0.5, top-down in memory, the way the
// display scans it out (no Y_INVERT flag needed).
#pragma once

#include <memory>
#include <string>

#include "client/renderer.h"

namespace zc::client {

// EGL and GLES on the DRM node `device_path` (the node the ring's buffers are
// allocated on). An error names the missing piece (no platform, no
// extension, no highp floats, ...).
Result<std::unique_ptr<Renderer>> make_gl_renderer(const std::string& device_path, Render mode);

// Whether this machine has any DRM device at all; ENODEV with one sentence
// when it has none (so `--renderer gl` can fail before connecting).
Result<void> check_drm_device();

}  // namespace zc::client
