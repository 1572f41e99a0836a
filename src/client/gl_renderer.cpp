#include "client/gl_renderer.h"

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES2/gl2.h>
#include <GLES2/gl2ext.h>
#include <drm_fourcc.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <gbm.h>
#include <xf86drm.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "buffer/pattern.h"
#include "client/buffer_cache.h"
#include "common/format.h"
#include "common/unique_fd.h"
#include "stats/trace.h"

namespace zc::client {
namespace {

bool has_extension(const char* list, const char* name) {
  if (list == nullptr) return false;
  const size_t len = std::strlen(name);
  for (const char* p = list; (p = std::strstr(p, name)) != nullptr; p += len)
    if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0')) return true;
  return false;
}

// The pattern's memory bytes are the 32-bit value 0xXXRRGGBB stored little
// endian whatever the fourcc (buffer/pattern.cpp), so GL must write:
//   XRGB/ARGB8888: bytes B,G,R,X -> GL's red channel is the value's R
//   XBGR/ABGR8888: bytes R,G,B,X -> GL's red channel is the value's B (swap)
// The buffer is imported with the alpha variant of its format: the layout is
// the same, but GL then writes the fourth byte (alpha 1.0 = 0xff, as the CPU
// pattern does) instead of leaving an "X" byte undefined, and the checksum
// covers that byte.
struct GlFormat {
  uint32_t import_fourcc;
  bool swap_rb;
};
std::optional<GlFormat> gl_format(uint32_t fourcc) {
  switch (fourcc) {
    case DRM_FORMAT_XRGB8888:
    case DRM_FORMAT_ARGB8888: return GlFormat{DRM_FORMAT_ARGB8888, false};
    case DRM_FORMAT_XBGR8888:
    case DRM_FORMAT_ABGR8888: return GlFormat{DRM_FORMAT_ABGR8888, true};
    default: return std::nullopt;
  }
}

// Below the header, pattern pixel (x, y) of frame n has red (x + 4n) mod 256,
// green (y + 4n) mod 256, blue n mod 256 (buffer/pattern.cpp). Every value is
// an integer below 2^24, exact in a highp float; dividing by 256 is exact
// (a power of two). The byte k is written as (k + 0.25) / 255: GLES converts
// a colour c to round(c * 255), but some drivers truncate, and k / 255.0 is
// not exact in binary, so llvmpipe wrote k - 1 for some odd k (measured in
// the VM: checksums differed only in the red bytes of odd columns). With the
// quarter, rounding and truncating both give k, and 255.25 / 255 clamps to 1.
//
// The pixel's position comes from a varying interpolated across the quad, not
// from gl_FragCoord: llvmpipe hands the fragment shader gl_FragCoord with
// about 11 significant bits (measured in the VM: from x = 1025 on, every odd
// column read x + 1), while varyings are interpolated in full 32-bit floats.
constexpr const char* kVertexShader = R"(
attribute vec2 pos;
uniform vec2 size;  // the buffer's width and height in pixels
varying vec2 px;    // pixel coordinates: (x + 0.5, y + 0.5) at pixel (x, y)
void main() {
  px = (pos * 0.5 + 0.5) * size;
  gl_Position = vec4(pos, 0.0, 1.0);
}
)";
constexpr const char* kFragmentShader = R"(
precision highp float;
uniform float shift;  // (4 n) mod 256
uniform float blue;   // n mod 256
uniform float swap_rb;  // 1.0: the format stores R first (XBGR8888)
varying vec2 px;
float mod256(float v) { return v - 256.0 * floor(v * (1.0 / 256.0)); }
void main() {
  vec2 p = floor(px);  // pixel (column, memory row)
  vec3 c = (vec3(mod256(p.x + shift), mod256(p.y + shift), blue) + 0.25) / 255.0;
  gl_FragColor = vec4(mix(c, c.bgr, swap_rb), 1.0);
}
)";

// One buffer of the ring as GL sees it: made once, at its first frame.
struct Target {
  EGLImageKHR image = EGL_NO_IMAGE_KHR;
  GLuint renderbuffer = 0;
  GLuint framebuffer = 0;
  GlFormat format{};
};

class GlRenderer final : public Renderer {
 public:
  explicit GlRenderer(Render mode) : mode_(mode) {}
  ~GlRenderer() override;

  Result<void> init(const std::string& path);

  const char* name() const override { return "gl"; }
  std::string driver() const override { return driver_; }
  Result<std::vector<uint64_t>> choose_modifiers(const std::vector<uint64_t>& accepted) const override;
  Result<void> render(buffer::Buffer& b, uint64_t n) override;
  Result<std::optional<uint64_t>> checksum(buffer::Buffer& b, uint64_t n) override {
    // The GPU wrote the frame. Reading it back through a CPU mapping would
    // be slow (uncached or remote GPU memory) and would make the CPU touch
    // every pixel after all, so the client states what it drew instead: the
    // checksum of the pattern, computed without a frame. The compositor's
    // checksum of the buffer it showed must equal it, which proves the GPU
    // drew the pattern exactly, bit for bit.
    if (mode_ != Render::full) return std::optional<uint64_t>{};
    return std::optional<uint64_t>{buffer::pattern_checksum(b.width(), b.height(), b.format(), n)};
  }
  void forget_buffers() override { targets_.forget_all(); }

 private:
  Result<Target*> target(const buffer::Buffer& b);
  void free_target(Target& t);
  Result<void> make_program();

  Render mode_;
  UniqueFd fd_;
  gbm_device* gbm_ = nullptr;
  EGLDisplay display_ = EGL_NO_DISPLAY;
  EGLContext context_ = EGL_NO_CONTEXT;
  GLuint program_ = 0;
  GLint u_shift_ = -1, u_blue_ = -1, u_swap_ = -1, u_size_ = -1;
  std::string driver_;
  bool modifiers_ext_ = false;  // EGL_EXT_image_dma_buf_import_modifiers
  PFNEGLCREATEIMAGEKHRPROC create_image_ = nullptr;
  PFNEGLDESTROYIMAGEKHRPROC destroy_image_ = nullptr;
  PFNGLEGLIMAGETARGETRENDERBUFFERSTORAGEOESPROC image_target_renderbuffer_ = nullptr;
  PFNEGLQUERYDMABUFMODIFIERSEXTPROC query_modifiers_ = nullptr;
  // By buffer (client/buffer_cache.h: keyed by serial, not address, and
  // dropped when the ring is reallocated). Freed while the context is
  // current (the destructor, forget_buffers()).
  PerBuffer<Target> targets_{[this](Target& t) { free_target(t); }};
};

void GlRenderer::free_target(Target& t) {
  if (context_ == EGL_NO_CONTEXT) return;  // nothing was made without one
  glDeleteFramebuffers(1, &t.framebuffer);
  glDeleteRenderbuffers(1, &t.renderbuffer);
  // The EGLImage holds a reference to the dma-buf: only now can the buffer's
  // memory really go.
  if (t.image != EGL_NO_IMAGE_KHR) destroy_image_(display_, t.image);
  t = Target{};
}

GlRenderer::~GlRenderer() {
  if (display_ != EGL_NO_DISPLAY) {
    if (context_ != EGL_NO_CONTEXT) {
      targets_.forget_all();
      if (program_ != 0) glDeleteProgram(program_);
      eglMakeCurrent(display_, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
      eglDestroyContext(display_, context_);
    }
    eglTerminate(display_);
  }
  if (gbm_ != nullptr) gbm_device_destroy(gbm_);
}

Result<void> GlRenderer::init(const std::string& path) {
  // 1. EGL on the GBM device. The platform extensions are client extensions:
  //    queried on EGL_NO_DISPLAY, before any display exists.
  const char* client_ext = eglQueryString(EGL_NO_DISPLAY, EGL_EXTENSIONS);
  if (!has_extension(client_ext, "EGL_EXT_platform_base") ||
      (!has_extension(client_ext, "EGL_KHR_platform_gbm") && !has_extension(client_ext, "EGL_MESA_platform_gbm")))
    return Error{ENOTSUP, "EGL has no GBM platform (EGL_KHR_platform_gbm / EGL_MESA_platform_gbm)"};
  auto get_platform_display =
      reinterpret_cast<PFNEGLGETPLATFORMDISPLAYEXTPROC>(eglGetProcAddress("eglGetPlatformDisplayEXT"));
  if (get_platform_display == nullptr) return Error{ENOTSUP, "EGL lacks eglGetPlatformDisplayEXT"};

  fd_ = UniqueFd{::open(path.c_str(), O_RDWR | O_CLOEXEC)};
  if (!fd_) return Error::from_errno("open " + path);
  gbm_ = gbm_create_device(fd_.get());
  if (gbm_ == nullptr) return Error::from_errno("gbm_create_device on " + path);
  // EGL_PLATFORM_GBM_KHR and EGL_PLATFORM_GBM_MESA are the same number.
  display_ = get_platform_display(EGL_PLATFORM_GBM_KHR, gbm_, nullptr);
  if (display_ == EGL_NO_DISPLAY) return Error{ENODEV, fmt::format("no EGL display on the GBM device {}", path)};
  EGLint major = 0, minor = 0;
  if (eglInitialize(display_, &major, &minor) != EGL_TRUE) {
    display_ = EGL_NO_DISPLAY;  // nothing to terminate
    return Error{ENODEV, fmt::format("eglInitialize on {} failed (EGL error 0x{:x})", path, eglGetError())};
  }

  const char* ext = eglQueryString(display_, EGL_EXTENSIONS);
  for (const char* need : {"EGL_EXT_image_dma_buf_import", "EGL_KHR_surfaceless_context"})
    if (!has_extension(ext, need)) return Error{ENOTSUP, fmt::format("EGL on {} lacks {}", path, need)};
  modifiers_ext_ = has_extension(ext, "EGL_EXT_image_dma_buf_import_modifiers");
  create_image_ = reinterpret_cast<PFNEGLCREATEIMAGEKHRPROC>(eglGetProcAddress("eglCreateImageKHR"));
  destroy_image_ = reinterpret_cast<PFNEGLDESTROYIMAGEKHRPROC>(eglGetProcAddress("eglDestroyImageKHR"));
  if (create_image_ == nullptr || destroy_image_ == nullptr) return Error{ENOTSUP, "EGL lacks eglCreateImageKHR"};
  if (modifiers_ext_)
    query_modifiers_ = reinterpret_cast<PFNEGLQUERYDMABUFMODIFIERSEXTPROC>(eglGetProcAddress("eglQueryDmaBufModifiersEXT"));

  // 2. A GLES 2 context without a surface: it draws only into FBOs. Without
  //    EGL_KHR_no_config_context any ES2-capable config will do (it is never
  //    used for a surface).
  if (eglBindAPI(EGL_OPENGL_ES_API) != EGL_TRUE) return Error{ENOTSUP, "eglBindAPI(EGL_OPENGL_ES_API) failed"};
  EGLConfig config = nullptr;  // EGL_NO_CONFIG_KHR
  if (!has_extension(ext, "EGL_KHR_no_config_context")) {
    const EGLint attribs[] = {EGL_RENDERABLE_TYPE, EGL_OPENGL_ES2_BIT, EGL_NONE};
    EGLint count = 0;
    if (eglChooseConfig(display_, attribs, &config, 1, &count) != EGL_TRUE || count < 1)
      return Error{ENOTSUP, "no EGL config for OpenGL ES 2"};
  }
  const EGLint context_attribs[] = {EGL_CONTEXT_CLIENT_VERSION, 2, EGL_NONE};
  context_ = eglCreateContext(display_, config, EGL_NO_CONTEXT, context_attribs);
  if (context_ == EGL_NO_CONTEXT)
    return Error{ENOTSUP, fmt::format("eglCreateContext (OpenGL ES 2) failed (EGL error 0x{:x})", eglGetError())};
  if (eglMakeCurrent(display_, EGL_NO_SURFACE, EGL_NO_SURFACE, context_) != EGL_TRUE)
    return Error{ENOTSUP, fmt::format("eglMakeCurrent without a surface failed (EGL error 0x{:x})", eglGetError())};

  const auto* renderer = reinterpret_cast<const char*>(glGetString(GL_RENDERER));
  driver_ = renderer != nullptr ? renderer : "?";
  if (!has_extension(reinterpret_cast<const char*>(glGetString(GL_EXTENSIONS)), "GL_OES_EGL_image"))
    return Error{ENOTSUP, fmt::format("GLES on {} ({}) lacks GL_OES_EGL_image", path, driver_)};
  image_target_renderbuffer_ = reinterpret_cast<PFNGLEGLIMAGETARGETRENDERBUFFERSTORAGEOESPROC>(
      eglGetProcAddress("glEGLImageTargetRenderbufferStorageOES"));
  if (image_target_renderbuffer_ == nullptr) return Error{ENOTSUP, "GLES lacks glEGLImageTargetRenderbufferStorageOES"};

  // highp floats in fragment shaders are optional in GLES 2; without them
  // pixel coordinates above 2048 are not exact and the pattern would differ
  // from the CPU's in its low bits.
  GLint range[2] = {0, 0}, precision = 0;
  glGetShaderPrecisionFormat(GL_FRAGMENT_SHADER, GL_HIGH_FLOAT, range, &precision);
  if (precision < 23)
    return Error{ENOTSUP, fmt::format("{} has no 32-bit (highp) floats in fragment shaders: the pattern would not be exact",
                                      driver_)};
  return make_program();
}

Result<void> GlRenderer::make_program() {
  auto compile = [](GLenum type, const char* src) -> Result<GLuint> {
    GLuint s = glCreateShader(type);
    glShaderSource(s, 1, &src, nullptr);
    glCompileShader(s);
    GLint ok = GL_FALSE;
    glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
    if (ok == GL_TRUE) return s;
    char log[512] = {};
    glGetShaderInfoLog(s, sizeof log, nullptr, log);
    glDeleteShader(s);
    return Error{EINVAL, fmt::format("shader does not compile: {}", log)};
  };
  auto vs = compile(GL_VERTEX_SHADER, kVertexShader);
  if (!vs) return vs.error();
  auto fs = compile(GL_FRAGMENT_SHADER, kFragmentShader);
  if (!fs) {
    glDeleteShader(*vs);
    return fs.error();
  }
  program_ = glCreateProgram();
  glAttachShader(program_, *vs);
  glAttachShader(program_, *fs);
  glBindAttribLocation(program_, 0, "pos");
  glLinkProgram(program_);
  glDeleteShader(*vs);  // flagged for deletion; they live as long as the program
  glDeleteShader(*fs);
  GLint ok = GL_FALSE;
  glGetProgramiv(program_, GL_LINK_STATUS, &ok);
  if (ok != GL_TRUE) return Error{EINVAL, "shader program does not link"};
  u_shift_ = glGetUniformLocation(program_, "shift");
  u_blue_ = glGetUniformLocation(program_, "blue");
  u_swap_ = glGetUniformLocation(program_, "swap_rb");
  u_size_ = glGetUniformLocation(program_, "size");
  return {};
}

Result<std::vector<uint64_t>> GlRenderer::choose_modifiers(const std::vector<uint64_t>& accepted) const {
  // A GPU draws into any layout its driver can render to: of the modifiers
  // the compositor accepts, keep the ones EGL imports as a render target (not
  // "external only", which may be sampled but not drawn into).
  std::vector<uint64_t> usable;
  if (query_modifiers_ != nullptr) {
    EGLint count = 0;
    query_modifiers_(display_, DRM_FORMAT_ARGB8888, 0, nullptr, nullptr, &count);
    std::vector<EGLuint64KHR> mods(static_cast<size_t>(count));
    std::vector<EGLBoolean> external(static_cast<size_t>(count));
    if (count > 0) query_modifiers_(display_, DRM_FORMAT_ARGB8888, count, mods.data(), external.data(), &count);
    for (uint64_t m : accepted)
      for (EGLint i = 0; i < count; ++i)
        if (mods[static_cast<size_t>(i)] == m && m != DRM_FORMAT_MOD_INVALID && external[static_cast<size_t>(i)] != EGL_TRUE)
          usable.push_back(m);
  }
  if (!usable.empty()) return usable;
  // Otherwise what the CPU could use too: LINEAR, or no modifier at all
  // (kms_swrast and virtio-gpu list none).
  return linear_modifiers(accepted);
}

Result<Target*> GlRenderer::target(const buffer::Buffer& b) {
  if (Target* t = targets_.find(b)) return t;
  const auto fmt_gl = gl_format(b.format());
  if (!fmt_gl)
    return Error{ENOTSUP, fmt::format("the gl renderer draws XRGB8888, ARGB8888, XBGR8888 or ABGR8888, not {}",
                                      format_name(b.format()))};
  const buffer::Dmabuf& d = b.desc();
  if (d.num_planes > 1 && !modifiers_ext_)
    return Error{ENOTSUP, "a multi-plane buffer needs EGL_EXT_image_dma_buf_import_modifiers"};
  // The buffer's description, attribute by attribute: what a compositor
  // learns from zwp_linux_buffer_params_v1.add, EGL learns here.
  auto import = [&](uint32_t fourcc) {
    std::vector<EGLint> a = {EGL_WIDTH, static_cast<EGLint>(d.width), EGL_HEIGHT, static_cast<EGLint>(d.height),
                             EGL_LINUX_DRM_FOURCC_EXT, static_cast<EGLint>(fourcc)};
    static constexpr EGLint kPlane[4][5] = {
        {EGL_DMA_BUF_PLANE0_FD_EXT, EGL_DMA_BUF_PLANE0_OFFSET_EXT, EGL_DMA_BUF_PLANE0_PITCH_EXT,
         EGL_DMA_BUF_PLANE0_MODIFIER_LO_EXT, EGL_DMA_BUF_PLANE0_MODIFIER_HI_EXT},
        {EGL_DMA_BUF_PLANE1_FD_EXT, EGL_DMA_BUF_PLANE1_OFFSET_EXT, EGL_DMA_BUF_PLANE1_PITCH_EXT,
         EGL_DMA_BUF_PLANE1_MODIFIER_LO_EXT, EGL_DMA_BUF_PLANE1_MODIFIER_HI_EXT},
        {EGL_DMA_BUF_PLANE2_FD_EXT, EGL_DMA_BUF_PLANE2_OFFSET_EXT, EGL_DMA_BUF_PLANE2_PITCH_EXT,
         EGL_DMA_BUF_PLANE2_MODIFIER_LO_EXT, EGL_DMA_BUF_PLANE2_MODIFIER_HI_EXT},
        {EGL_DMA_BUF_PLANE3_FD_EXT, EGL_DMA_BUF_PLANE3_OFFSET_EXT, EGL_DMA_BUF_PLANE3_PITCH_EXT,
         EGL_DMA_BUF_PLANE3_MODIFIER_LO_EXT, EGL_DMA_BUF_PLANE3_MODIFIER_HI_EXT}};
    for (uint32_t p = 0; p < d.num_planes && p < 4; ++p) {
      a.insert(a.end(), {kPlane[p][0], d.planes[p].fd.get(), kPlane[p][1], static_cast<EGLint>(d.planes[p].offset),
                         kPlane[p][2], static_cast<EGLint>(d.planes[p].stride)});
      // INVALID means "no modifier": say nothing and the driver assumes the
      // buffer's implicit layout.
      if (d.modifier != DRM_FORMAT_MOD_INVALID && modifiers_ext_)
        a.insert(a.end(), {kPlane[p][3], static_cast<EGLint>(d.modifier & 0xffffffffu), kPlane[p][4],
                           static_cast<EGLint>(d.modifier >> 32)});
    }
    a.push_back(EGL_NONE);
    // EGL_LINUX_DMA_BUF_EXT images take no client buffer and no context.
    return create_image_(display_, EGL_NO_CONTEXT, EGL_LINUX_DMA_BUF_EXT, nullptr, a.data());
  };
  Target t;
  t.format = *fmt_gl;
  t.image = import(fmt_gl->import_fourcc);
  if (t.image == EGL_NO_IMAGE_KHR) {
    // A driver that refuses the alpha variant: import the format itself (the
    // fourth byte is then the driver's choice, and the checksum will say so).
    t.format.import_fourcc = b.format();
    t.image = import(b.format());
  }
  if (t.image == EGL_NO_IMAGE_KHR)
    return Error{EINVAL, fmt::format("eglCreateImageKHR of a {}x{} {} dma-buf (modifier {}) failed (EGL error 0x{:x})",
                                     d.width, d.height, format_name(d.format), modifier_name(d.modifier),
                                     eglGetError())};
  glGenRenderbuffers(1, &t.renderbuffer);
  glBindRenderbuffer(GL_RENDERBUFFER, t.renderbuffer);
  image_target_renderbuffer_(GL_RENDERBUFFER, t.image);
  glGenFramebuffers(1, &t.framebuffer);
  glBindFramebuffer(GL_FRAMEBUFFER, t.framebuffer);
  glFramebufferRenderbuffer(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_RENDERBUFFER, t.renderbuffer);
  const GLenum status = glCheckFramebufferStatus(GL_FRAMEBUFFER);
  Target* stored = &targets_.add(b, t);  // freed with the others, complete or not
  if (status != GL_FRAMEBUFFER_COMPLETE)
    return Error{EINVAL, fmt::format("a framebuffer on the {} dma-buf is incomplete (status 0x{:x}): {} cannot draw into it",
                                     format_name(d.format), status, driver_)};
  ZC_TRACE(fmt::format("first frame in this buffer: its dma-buf imported as an EGLImage, bound to a GL renderbuffer ({})",
                       driver_),
           0);
  return stored;
}

Result<void> GlRenderer::render(buffer::Buffer& b, uint64_t n) {
  auto t = target(b);
  if (!t) return t.error();
  const GLsizei w = static_cast<GLsizei>(b.width()), h = static_cast<GLsizei>(b.height());
  const GLsizei header = std::min<GLsizei>(h, buffer::kPatternHeaderRows);
  ZC_TRACE(fmt::format("render frame {}: the GPU ({}) draws {}; the CPU writes no pixel", n, driver_,
                       mode_ == Render::full ? "every pixel" : "only the frame-number rows"),
           0);
  if (mode_ == Render::none) return {};
  glBindFramebuffer(GL_FRAMEBUFFER, (*t)->framebuffer);
  glViewport(0, 0, w, h);
  glEnable(GL_SCISSOR_TEST);
  if (mode_ == Render::full && h > header) {
    // The gradient: one quad over the rows below the header, the shader
    // computing each pixel from its coordinates.
    static constexpr GLfloat kQuad[] = {-1, -1, 1, -1, -1, 1, 1, 1};
    glScissor(0, header, w, h - header);
    glUseProgram(program_);
    glUniform1f(u_shift_, static_cast<GLfloat>((n * 4) % 256));
    glUniform1f(u_blue_, static_cast<GLfloat>(n % 256));
    glUniform1f(u_swap_, (*t)->format.swap_rb ? 1.0f : 0.0f);
    glUniform2f(u_size_, static_cast<GLfloat>(w), static_cast<GLfloat>(h));
    glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, 0, kQuad);
    glEnableVertexAttribArray(0);
    glDrawArrays(GL_TRIANGLE_STRIP, 0, 4);
    // The moving bar: 32 white columns from x = 16 n mod W, cut at the edge.
    const GLint bar = static_cast<GLint>((n * 16) % static_cast<uint64_t>(w));
    glScissor(bar, header, std::min<GLsizei>(32, w - bar), h - header);
    glClearColor(1, 1, 1, 1);
    glClear(GL_COLOR_BUFFER_BIT);
  }
  // The header: black rows, then a white block for every set bit of n
  // (scissored clears write exact 0x00 / 0xff bytes).
  glScissor(0, 0, w, header);
  glClearColor(0, 0, 0, 1);
  glClear(GL_COLOR_BUFFER_BIT);
  const GLsizei block = w / static_cast<GLsizei>(buffer::kPatternBits);
  glClearColor(1, 1, 1, 1);
  for (uint32_t bit = 0; bit < buffer::kPatternBits && block > 0; ++bit) {
    if (((n >> bit) & 1u) == 0) continue;
    glScissor(static_cast<GLint>(bit) * block, 0, block, header);
    glClear(GL_COLOR_BUFFER_BIT);
  }
  glDisable(GL_SCISSOR_TEST);
  // Every pixel is in the dma-buf before the compositor hears of the frame:
  // the compositor (or the display) reads it as soon as the commit arrives.
  // A hardware driver would let glFlush() do: it attaches a fence to the
  // dma-buf (implicit sync), and the compositor hands that fence to the
  // display as IN_FENCE_FD (docs/fences.md). Software rendering (llvmpipe
  // on kms_swrast, what the VM's plain device runs) draws with CPU threads
  // and attaches no kernel fence at all: only glFinish() makes its frame
  // safe to scan out. So this client waits, and the compositor's fences
  // are already signalled when it exports them.
  glFinish();
  if (const GLenum err = glGetError(); err != GL_NO_ERROR)
    return Error{EIO, fmt::format("GL error 0x{:x} drawing frame {} ({})", err, n, driver_)};
  return {};
}

}  // namespace

Result<std::unique_ptr<Renderer>> make_gl_renderer(const std::string& device_path, Render mode) {
  auto r = std::make_unique<GlRenderer>(mode);
  if (auto ok = r->init(device_path); !ok) return ok.error();
  return std::unique_ptr<Renderer>(std::move(r));
}

Result<void> check_drm_device() {
  drmDevicePtr devs[16] = {};
  const int n = drmGetDevices2(0, devs, 16);
  if (n > 0) drmFreeDevices(devs, n);
  if (n <= 0)
    return Error{ENODEV, "--renderer gl needs a DRM device (EGL on GBM), and this machine has none (/dev/dri is empty or absent)"};
  return {};
}

}  // namespace zc::client
