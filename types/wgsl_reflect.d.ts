// wgsl_reflect's package.json points Node's ESM loader at a CommonJS build; we import its ES module
// file directly, and give that path the package's own types.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
