// The npm client ships no types; the tests use it as an untyped black box.
declare module 'seatable-api' {
  const seatable: { Base: new (config: { server: string; APIToken: string }) => any };
  export default seatable;
}
