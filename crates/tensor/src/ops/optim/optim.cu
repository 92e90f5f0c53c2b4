// Fused optimizer updates with the exact float expressions of cpu.rs beside this file (PyTorch's
// non-fused Adam/AdamW and SGD). The Adam scalars (1 - beta, 1 - lr * wd, lr / (1 - beta1^t),
// sqrt(1 - beta2^t)) come from the host, formed in double there as on the CPU.

extern "C" __global__ void adam_step(float* p, const float* g, float* m, float* v, u64 n,
                                     float beta1, float one_minus_beta1, float beta2,
                                     float one_minus_beta2, float eps, float wd, int decoupled,
                                     float decay, float step_size, float bc2_sqrt) {
    GRID_STRIDE(i, n) {
        float gi = g[i];
        float pi = p[i];
        if (wd != 0.0f) {
            if (decoupled) {
                pi *= decay;
            } else {
                gi += wd * pi;
            }
        }
        const float mi = beta1 * m[i] + one_minus_beta1 * gi;
        const float vi = beta2 * v[i] + one_minus_beta2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        const float denom = sqrtf(vi) / bc2_sqrt + eps;
        p[i] = pi - step_size * mi / denom;
    }
}

extern "C" __global__ void sgd_step(float* p, const float* g, float* buf, u64 n, float lr,
                                    float momentum, float dampening, float wd, int nesterov,
                                    int first) {
    GRID_STRIDE(i, n) {
        const float pi = p[i];
        float d = g[i] + wd * pi;
        if (momentum != 0.0f) {
            const float b = first ? d : momentum * buf[i] + (1.0f - dampening) * d;
            buf[i] = b;
            d = nesterov ? d + momentum * b : b;
        }
        p[i] = pi - lr * d;
    }
}
