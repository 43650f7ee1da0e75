import "./lib/x.js"; export default {}
