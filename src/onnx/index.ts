export { loadOnnx, importOnnx, SUPPORTED_ONNX_OPS, MIN_OPSET, MAX_OPSET } from "./import.js";
export { exportOnnx, writeOnnx, EXPORT_OPSET } from "./export.js";
