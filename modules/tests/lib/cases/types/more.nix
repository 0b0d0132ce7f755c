{ lib, ... }: {
  coercedList = [ "two" ];
  fn = x: [ (x * 10) ];
  csv = "b";
  sep = "r";
  text = "line 2";
  anyAttrs = { b = 2; };
  anything = { a.d = true; };
  bools.y = false;
}
