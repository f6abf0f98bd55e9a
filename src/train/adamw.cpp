// The two libtorch calls tch 0.24 does not bind, for src/train/adamw.rs: AdamW as libtorch's
// fused kernel (`at::_fused_adamw_`, what PyTorch runs for `AdamW(fused=True)`) and
// gradients set to none (what `Optimizer::zero_grad()` does). Compiled by build.rs against the
// headers of the libtorch that torch-sys links; a tensor pointer here is tch's `C_tensor`,
// which torch-sys's libtch defines as `torch::Tensor *`.
//
// Every entry point catches what libtorch throws and returns its message without libtorch's
// C++ backtrace, copied into the caller's buffer, so no C++ exception crosses into Rust.

#include <ATen/core/Tensor.h>
#include <ATen/ops/_fused_adamw.h>
#include <c10/util/Exception.h>

#include <cstring>
#include <exception>
#include <vector>

namespace {

std::vector<at::Tensor> gather(at::Tensor *const *tensors, size_t n) {
    std::vector<at::Tensor> out;
    out.reserve(n);
    for (size_t i = 0; i < n; i++) out.push_back(*tensors[i]);
    return out;
}

int fail(const char *what, char *err, size_t err_len) {
    if (err != nullptr && err_len > 0) {
        std::strncpy(err, what, err_len - 1);
        err[err_len - 1] = '\0';
    }
    return 1;
}

}  // namespace

extern "C" {

// One AdamW step (decoupled weight decay, bias-corrected moments, amsgrad off) over `n`
// parameters that all have a gradient, at one learning rate. `steps` are one-element float
// tensors the caller has already incremented (the kernel reads the step count from them).
// Returns 0, or 1 with libtorch's message in `err`.
int cbrrel_fused_adamw(at::Tensor *const *params, at::Tensor *const *grads,
                       at::Tensor *const *exp_avgs, at::Tensor *const *exp_avg_sqs,
                       at::Tensor *const *steps, size_t n, double lr, double beta1, double beta2,
                       double weight_decay, double eps, char *err, size_t err_len) {
    try {
        auto p = gather(params, n);
        auto g = gather(grads, n);
        auto m = gather(exp_avgs, n);
        auto v = gather(exp_avg_sqs, n);
        auto s = gather(steps, n);
        std::vector<at::Tensor> no_max;  // amsgrad off: the kernel wants this list empty
        at::_fused_adamw_(p, g, m, v, no_max, s, lr, beta1, beta2, weight_decay, eps,
                          /*amsgrad=*/false, /*maximize=*/false);
        return 0;
    } catch (const c10::Error &e) {
        return fail(e.what_without_backtrace(), err, err_len);
    } catch (const std::exception &e) {
        return fail(e.what(), err, err_len);
    }
}

// Drop the gradients of `n` leaf tensors (the next backward allocates them afresh), as
// libtorch's `Optimizer::zero_grad(set_to_none = true)` and PyTorch's default do.
int cbrrel_grads_to_none(at::Tensor *const *tensors, size_t n, char *err, size_t err_len) {
    try {
        for (size_t i = 0; i < n; i++) {
            at::Tensor &grad = tensors[i]->mutable_grad();
            if (grad.defined()) {
                grad.detach_();
                grad.reset();
            }
        }
        return 0;
    } catch (const c10::Error &e) {
        return fail(e.what_without_backtrace(), err, err_len);
    } catch (const std::exception &e) {
        return fail(e.what(), err, err_len);
    }
}

}  // extern "C"
