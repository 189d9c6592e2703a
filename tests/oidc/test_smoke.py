def test_code_flow(rp, signed_in_client, user):
    body = rp.sign_in_and_redeem(signed_in_client)
    print(body["claims"])
    assert body["claims"]["sub"] == str(user.subject)
    assert body["claims"]["amr"] == ["pwd"]
    info = rp.userinfo(body["access_token"])
    assert info.status_code == 200, info.content
    print(info.json())
    refreshed = rp.refresh(body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
